// lab list/start/check/reset: commander wiring only; the work lives in src/lab/.
import type { Command } from 'commander';
import type { GetContext } from '../runtime/context.js';
import { UsageError } from '../util/errors.js';
import { printJson, printTable } from './output.js';

function labNumber(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`"${text}" is not a lab number: 'tscontainer lab list' shows them`);
  return n;
}

export function registerLab(program: Command, ctx: GetContext): void {
  const lab = program.command('lab').description('graded exercises on namespaces and cgroups (see docs/labs.md)');

  lab
    .command('list')
    .description('the labs, with your progress')
    .option('--format <format>', "'json' for machine-readable output")
    .action(async (o: { format?: string }) => {
      const { listLabs } = await import('../lab/index.js');
      const { labs, cgroup } = listLabs(ctx().roots.state);
      if (o.format === 'json')
        return printJson({ cgroup, labs: labs.map((l) => ({ number: l.lab.number, title: l.lab.title, ...l.progress })) });
      printTable(
        ['LAB', 'TITLE', 'PROGRESS'],
        labs.map(({ lab: l, progress: p }) => [
          String(l.number),
          l.title,
          p.passed
            ? `passed ${p.passed.slice(0, 16).replace('T', ' ')}`
            : p.lastCheck
              ? 'checked, not passed yet'
              : p.started
                ? 'started'
                : '-',
        ]),
      );
      process.stdout.write(`\nThis machine: ${cgroup}. Start with 'tscontainer lab start 1'.\n`);
    });

  lab
    .command('start')
    .description("prepare a lab's workspace and print where its page and your task file are")
    .argument('<number>')
    .action(async (n: string) => {
      const { startLab } = await import('../lab/index.js');
      const s = startLab(ctx().roots.state, labNumber(n));
      process.stdout.write(
        `Lab ${s.lab.number}: ${s.lab.title}\n` +
          `  read:       ${s.lab.page}\n` +
          `  workspace:  ${s.workspace}  (lab.env holds the names this lab owns)\n` +
          `  your task:  ${s.task}\n` +
          `  runs on:    ${s.cgroup}\n` +
          `When done: tscontainer lab check ${s.lab.number}\n`,
      );
    });

  lab
    .command('check')
    .description("run the lab's checker on your work (the workspace's task file, or PATH)")
    .argument('<number>')
    .argument('[path]', 'your script, or a folder holding it')
    .option('--format <format>', "'json' for machine-readable output")
    .action(async (n: string, path: string | undefined, o: { format?: string }) => {
      const { checkLab } = await import('../lab/index.js');
      const r = await checkLab(ctx().roots.state, labNumber(n), path);
      if (o.format === 'json') printJson(r);
      else {
        const lines = [`Lab ${r.lab}: ${r.title} (${r.cgroup})`];
        for (const c of r.checks) {
          lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.property}${c.detail ? `  [${c.detail}]` : ''}`);
          if (!c.ok && c.hint) lines.push(`       hint: ${c.hint}`);
        }
        if (r.output) lines.push('  your script said:', ...r.output.split('\n').map((l) => `    | ${l}`));
        lines.push(r.unsupported ? `NOT RUN: ${r.unsupported}` : r.passed ? 'PASSED' : 'NOT PASSED YET');
        process.stdout.write(lines.join('\n') + '\n');
      }
      if (!r.passed) process.exitCode = 1;
    });

  lab
    .command('reset')
    .description('remove everything the lab and you made: processes, namespaces, mounts, cgroups, links, rules, the workspace')
    .argument('<number>')
    .action(async (n: string) => {
      const { resetLab } = await import('../lab/index.js');
      const ws = await resetLab(ctx().roots.state, labNumber(n));
      process.stdout.write(`Lab ${n} reset: removed ${ws} and what the lab made.\n`);
    });
}
