// Appends one row of the benchmark report (bench/report) from a hyperfine JSON export:
//   node bench/lib/emit.cjs RESULT.json "what" OURS "ours cmd" PEER "peer cmd" "target" [--cpu]
// OURS and PEER are hyperfine command names (-n) in that file, each followed by the command
// line it timed (hyperfine's export keeps only the name). The row holds the medians in ms
// (with --cpu: the mean user+system CPU time per run instead), the ratio and both commands as
// they ran, so anyone can reproduce the row by hand. Without BENCH_ROWS set it prints the row.
'use strict';
const fs = require('node:fs');

const [file, what, ours, oursCmd, peer, peerCmd, target, flag] = process.argv.slice(2);
const results = JSON.parse(fs.readFileSync(file, 'utf8')).results;
const find = (name) => {
  const r = results.find((x) => x.command === name);
  if (!r) throw new Error(`${file}: no result named ${name}`);
  return r;
};
const value = (r) => (flag === '--cpu' ? (r.user + r.system) * 1000 : r.median * 1000);
const o = find(ours);
const p = find(peer);
const row = {
  what,
  ours: value(o),
  peer: value(p),
  peerName: peer.replace(/ .*/, ''),
  target,
  unit: flag === '--cpu' ? 'ms CPU' : 'ms',
  oursCmd,
  peerCmd,
};
const line = JSON.stringify(row);
if (process.env.BENCH_ROWS) fs.appendFileSync(process.env.BENCH_ROWS, line + '\n');
else console.log(line);
