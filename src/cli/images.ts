// images, tag, rmi, import, and the `image` group (ls, rm, tag, inspect, import, build-builtin).
import { Command } from 'commander';
import { confirm } from './prompt.js';
import type { GetContext } from '../runtime/context.js';
import { decimalSize } from '../util/units.js';
import { ago, printJson, printTable } from './output.js';

interface ImagesOpts {
  quiet?: boolean;
  /** false with --no-trunc (commander's negated option) */
  trunc?: boolean;
  all?: boolean;
  digests?: boolean;
  format?: string;
}

function collect(value: string, prev: string[]): string[] {
  return [...prev, value];
}

/** Prints every error but the last on stderr and throws the last, so the exit code follows it. */
function reportErrors(errors: readonly Error[]): void {
  if (errors.length === 0) return;
  for (const e of errors.slice(0, -1)) process.stderr.write(`tscontainer: ${e.message}\n`);
  throw errors[errors.length - 1];
}

function addImagesCommand(parent: Command, name: string, ctx: GetContext, aliases: string[] = []): void {
  const cmd = parent
    .command(name)
    .description('list images')
    .argument('[repository]', 'only images of REPOSITORY[:TAG]')
    .option('-q, --quiet', 'only show image ids')
    .option('-a, --all', 'show all images (tscontainer keeps no intermediate images, so this is the same list)')
    .option('--no-trunc', "don't truncate output")
    .option('--digests', 'show the registry digests')
    .option('--format <format>', "'json', 'table', 'table TEMPLATE' or a Go-style template such as '{{.Repository}}:{{.Tag}}'")
    .action(async (repo: string | undefined, opts: ImagesOpts) => {
      const { listImageSummaries } = await import('../image/service.js');
      const { renderTemplate, templateHeader } = await import('../image/format.js');
      const list = listImageSummaries(ctx(), repo);
      const trunc = opts.trunc !== false;
      const idOf = (id: string) => (trunc ? id.replace(/^sha256:/, '').slice(0, 12) : id);
      if (opts.quiet) {
        const seen = new Set<string>();
        for (const i of list) {
          if (seen.has(i.id)) continue;
          seen.add(i.id);
          process.stdout.write(`${idOf(i.id)}\n`);
        }
        return;
      }
      const rows = list.map((i) => ({
        Containers: String(i.containers),
        CreatedAt: i.created,
        CreatedSince: ago(i.created),
        Digest: i.digest,
        ID: idOf(i.id),
        Repository: i.repository,
        SharedSize: 'N/A',
        Size: decimalSize(i.size),
        Tag: i.tag,
        UniqueSize: 'N/A',
        VirtualSize: decimalSize(i.size),
      }));
      const format = opts.format;
      if (format === undefined || format === 'table') {
        if (opts.digests) {
          printTable(
            ['REPOSITORY', 'TAG', 'DIGEST', 'IMAGE ID', 'CREATED', 'SIZE'],
            rows.map((r) => [r.Repository, r.Tag, r.Digest, r.ID, r.CreatedSince, r.Size]),
          );
        } else {
          printTable(
            ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'],
            rows.map((r) => [r.Repository, r.Tag, r.ID, r.CreatedSince, r.Size]),
          );
        }
      } else if (format === 'json') {
        for (const r of rows) process.stdout.write(JSON.stringify(r) + '\n');
      } else if (format.startsWith('table ')) {
        const tpl = format.slice('table '.length);
        const split = (s: string) => s.split('\t');
        printTable(
          split(templateHeader(tpl)),
          rows.map((r) => split(renderTemplate(tpl, r))),
        );
      } else {
        for (const r of rows) process.stdout.write(renderTemplate(format, r) + '\n');
      }
    });
  for (const a of aliases) cmd.alias(a);
}

function addRmiCommand(parent: Command, name: string, ctx: GetContext, aliases: string[] = []): void {
  const cmd = parent
    .command(name)
    .description('remove one or more images')
    .argument('<image...>', 'image references or ids')
    .option('-f, --force', 'remove all tags of an id; untag an image that stopped containers use')
    .action(async (refs: string[], opts: { force?: boolean }) => {
      const { removeImages } = await import('../image/service.js');
      const r = await removeImages(ctx(), refs, { force: opts.force ?? false });
      for (const e of r.events) process.stdout.write(`${e.kind}: ${e.value}\n`);
      reportErrors(r.errors);
    });
  for (const a of aliases) cmd.alias(a);
}

function addTagCommand(parent: Command, ctx: GetContext): void {
  parent
    .command('tag')
    .description('create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
    .argument('<source>', 'SOURCE_IMAGE[:TAG] or image id')
    .argument('<target>', 'TARGET_IMAGE[:TAG]')
    .action(async (source: string, target: string) => {
      const { tagImage } = await import('../image/service.js');
      await tagImage(ctx(), source, target);
    });
}

function addImportCommand(parent: Command, ctx: GetContext): void {
  parent
    .command('import')
    .description('create an image from a tarball of a root filesystem (plain or gzip; "-" reads stdin)')
    .argument('<file>', 'tar file, or - for stdin')
    .argument('[reference]', 'REPOSITORY[:TAG] to tag the image with')
    .option(
      '-c, --change <instruction>',
      'apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR)',
      collect,
      [],
    )
    .option('-m, --message <message>', 'commit message for the imported image')
    .action(async (file: string, ref: string | undefined, opts: { change: string[]; message?: string }) => {
      const { importImage } = await import('../image/import.js');
      const id = await importImage(ctx(), { file, ref, changes: opts.change, message: opts.message });
      process.stdout.write(`${id}\n`);
    });
}

export function registerImages(program: Command, ctx: GetContext): void {
  addImagesCommand(program, 'images', ctx);
  addRmiCommand(program, 'rmi', ctx);
  addTagCommand(program, ctx);
  addImportCommand(program, ctx);

  const image = program.command('image').description('manage images');
  addImagesCommand(image, 'ls', ctx, ['list']);
  addRmiCommand(image, 'rm', ctx, ['remove']);
  addTagCommand(image, ctx);
  addImportCommand(image, ctx);

  image
    .command('inspect')
    .description('show detailed information on one or more images')
    .argument('<image...>', 'image references or ids')
    .option('-f, --format <template>', "Go-style template such as '{{.Id}}' or '{{json .Config}}'")
    .action(async (refs: string[], opts: { format?: string }) => {
      const { inspectImages } = await import('../image/service.js');
      const { renderTemplate } = await import('../image/format.js');
      const r = await inspectImages(ctx(), refs);
      if (opts.format !== undefined) {
        for (const i of r.images) process.stdout.write(renderTemplate(opts.format, i) + '\n');
      } else {
        printJson(r.images);
      }
      reportErrors(r.errors);
    });

  image
    .command('prune')
    .description('remove dangling images (with -a: every image no container uses)')
    .option('-a, --all', 'remove all images not used by a container, not just dangling ones')
    .option('-f, --force', 'do not prompt for confirmation')
    .action(async (opts: { all?: boolean; force?: boolean }) => {
      const warning = opts.all
        ? 'This will remove all images without at least one container associated to them.'
        : 'This will remove all dangling images.';
      if (!opts.force && !(await confirm(warning))) return;
      const { pruneImages } = await import('../image/service.js');
      const r = await pruneImages(ctx(), { all: opts.all ?? false });
      if (r.events.length > 0) {
        process.stdout.write('Deleted Images:\n');
        for (const e of r.events) process.stdout.write(`${e.kind === 'Untagged' ? 'untagged' : 'deleted'}: ${e.value}\n`);
        process.stdout.write('\n');
      }
      process.stdout.write(`Total reclaimed space: ${decimalSize(r.reclaimed)}\n`);
    });

  image
    .command('build-builtin', { hidden: true })
    .description(
      'build images/NAME/out (busybox: from busybox-static; debian: mmdebstrap from the apt sources) unless up to date',
    )
    .argument('[name]', 'busybox or debian', 'busybox')
    .option('--force', 'rebuild even when up to date')
    .action(async (name: string, opts: { force?: boolean }) => {
      const { buildBuiltin, BUILTIN_NAMES } = await import('../image/builtin.js');
      const n = BUILTIN_NAMES.find((b) => b === name);
      if (n === undefined)
        throw new (await import('../util/errors.js')).UsageError(
          `unknown built-in image "${name}" (known: ${BUILTIN_NAMES.join(', ')})`,
        );
      const out = await buildBuiltin({ force: opts.force ?? false, name: n });
      process.stdout.write(`${out}\n`);
    });
}
