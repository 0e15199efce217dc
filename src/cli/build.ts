// build, history, commit, diff, export, cp: commander wiring only; the work lives in build/.
import { Command, Option } from 'commander';
import type { GetContext } from '../runtime/context.js';
import { ago } from './output.js';
import { printTable } from './output.js';
import { decimalSize } from '../util/units.js';

function collect(value: string, prev: string[]): string[] {
  return [...prev, value];
}

interface BuildFlags {
  tag: string[];
  file?: string;
  buildArg: string[];
  target?: string;
  quiet?: boolean;
  iidfile?: string;
  cache?: boolean;
  network?: string;
  progress?: string;
  pull?: boolean;
}

function addBuild(parent: Command, name: string, ctx: GetContext): void {
  parent
    .command(name)
    .description('build an image from a Dockerfile (PATH is the context, "-" reads the Dockerfile from stdin with no context)')
    .argument('<path>', 'context directory, or -')
    .option('-t, --tag <name>', 'name and optionally tag the image (name:tag); may be repeated', collect, [])
    .option('-f, --file <path>', 'the Dockerfile (default PATH/Dockerfile; "-" reads stdin)')
    .option('--build-arg <name=value>', 'set a build-time variable; may be repeated', collect, [])
    .option('--target <stage>', 'build the named stage and what it needs, not the last one')
    .option('-q, --quiet', 'print only the image id (a failing step still shows its output)')
    .option('--iidfile <file>', 'write the image id to FILE')
    .option('--no-cache', 'do not use the build cache')
    .option('--pull', 'pull the FROM images before building even when present (a missing one is always pulled)')
    .addOption(new Option('--network <mode>', 'network for RUN steps').choices(['default', 'none', 'host']))
    .addOption(
      new Option(
        '--progress <type>',
        'progress output: auto (tty on a terminal, else plain), plain (one line per event), tty (steps redrawn in place with timers and output), quiet (as -q)',
      ).choices(['auto', 'plain', 'tty', 'quiet']),
    )
    .action(async (path: string, opts: BuildFlags) => {
      const { buildCommand } = await import('../build/service.js');
      const id = await buildCommand(ctx(), {
        context: path,
        file: opts.file,
        tags: opts.tag,
        buildArgs: opts.buildArg,
        target: opts.target,
        quiet: opts.quiet ?? false,
        iidfile: opts.iidfile,
        noCache: opts.cache === false,
        network: opts.network,
        progress: opts.progress,
        pull: opts.pull ?? false,
      });
      process.stdout.write(`${id}\n`);
    });
}

function addHistory(parent: Command, ctx: GetContext): void {
  parent
    .command('history')
    .description('show the history of an image')
    .argument('<image>')
    .option('--no-trunc', "don't truncate output")
    .option('-q, --quiet', 'only show image ids')
    .option('-H, --human', 'sizes and dates in human-readable form (default true)', true)
    .option('--format <format>', "'json', or a Go-style template such as '{{.CreatedBy}}'")
    .action(async (ref: string, opts: { trunc?: boolean; quiet?: boolean; format?: string }) => {
      const { imageHistory } = await import('../build/history.js');
      const rows = await imageHistory(ctx(), ref);
      const trunc = opts.trunc !== false;
      const short = (id: string) => (id.startsWith('sha256:') && trunc ? id.slice(7, 19) : id);
      if (opts.quiet) {
        for (const r of rows) process.stdout.write(`${short(r.id)}\n`);
        return;
      }
      const view = rows.map((r) => ({
        Comment: r.comment,
        CreatedAt: r.created,
        CreatedBy: trunc && r.createdBy.length > 45 ? r.createdBy.slice(0, 44) + '…' : r.createdBy,
        CreatedSince: ago(r.created),
        ID: short(r.id),
        Size: decimalSize(r.size),
      }));
      if (opts.format === 'json') {
        for (const v of view) process.stdout.write(JSON.stringify(v) + '\n');
        return;
      }
      if (opts.format !== undefined) {
        const { renderTemplate } = await import('../image/format.js');
        for (const v of view) process.stdout.write(renderTemplate(opts.format, v) + '\n');
        return;
      }
      printTable(
        ['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'],
        view.map((v) => [v.ID, v.CreatedSince, v.CreatedBy, v.Size, v.Comment]),
      );
    });
}

function addContainerFs(parent: Command, ctx: GetContext): void {
  parent
    .command('commit')
    .description("create a new image from a container's changes")
    .argument('<container>')
    .argument('[reference]', 'REPOSITORY[:TAG] for the new image')
    .option(
      '-c, --change <instruction>',
      'apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR)',
      collect,
      [],
    )
    .option('-m, --message <message>', 'commit message')
    .option('-a, --author <author>', 'author (e.g. "Jane <jane@example.com>")')
    .option('-p, --pause', 'accepted for docker compatibility; the container is not paused', true)
    .action(async (name: string, ref: string | undefined, opts: { change: string[]; message?: string; author?: string }) => {
      const { commitContainer } = await import('../build/containerfs.js');
      const id = await commitContainer(ctx(), name, ref, { changes: opts.change, message: opts.message, author: opts.author });
      process.stdout.write(`${id}\n`);
    });

  parent
    .command('diff')
    .description("list the changes to a container's file system (A added, C changed, D deleted)")
    .argument('<container>')
    .action(async (name: string) => {
      const { containerDiff } = await import('../build/containerfs.js');
      for (const c of await containerDiff(ctx(), name)) process.stdout.write(`${c.kind} ${c.path}\n`);
    });

  parent
    .command('export')
    .description("write a container's file system as a tar archive to stdout or a file")
    .argument('<container>')
    .option('-o, --output <file>', 'write to FILE instead of stdout')
    .action(async (name: string, opts: { output?: string }) => {
      const { exportContainer } = await import('../build/containerfs.js');
      if (opts.output === undefined && process.stdout.isTTY) {
        throw new (await import('../util/errors.js')).UsageError(
          'cowardly refusing to write a tar to a terminal: use -o FILE or redirect stdout',
        );
      }
      const { createWriteStream } = await import('node:fs');
      await exportContainer(ctx(), name, opts.output !== undefined ? createWriteStream(opts.output) : process.stdout);
    });

  parent
    .command('cp')
    .description(
      'copy files between a container (running or stopped) and the host: CONTAINER:SRC DEST or SRC CONTAINER:DEST ("-" as DEST writes a tar)',
    )
    .argument('<src>')
    .argument('<dest>')
    .action(async (src: string, dest: string) => {
      const { copyCommand } = await import('../build/containerfs.js');
      await copyCommand(ctx(), src, dest);
    });
}

function addBuilder(program: Command, ctx: GetContext): void {
  const builder = program.command('builder').description('manage the build cache');
  builder
    .command('prune')
    .description('remove the build cache and the layers only it keeps')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('-a, --all', 'the same: every cache entry is removed')
    .action(async (opts: { force?: boolean }) => {
      const { confirm } = await import('./prompt.js');
      if (!opts.force && !(await confirm('This will remove all build cache.'))) return;
      const { pruneBuildCache } = await import('../build/prune.js');
      const r = await pruneBuildCache(ctx());
      process.stdout.write(
        `Deleted build cache entries: ${r.entries}, layers: ${r.layers}\nTotal reclaimed space: ${decimalSize(r.reclaimed)}\n`,
      );
    });
}

export function registerBuild(program: Command, ctx: GetContext): void {
  addBuilder(program, ctx);
  addBuild(program, 'build', ctx);
  addHistory(program, ctx);
  addContainerFs(program, ctx);
  const container = program.commands.find((c) => c.name() === 'container');
  if (container) addContainerFs(container, ctx);
  const image = program.commands.find((c) => c.name() === 'image');
  if (image) {
    addBuild(image, 'build', ctx);
    addHistory(image, ctx);
  }
}
