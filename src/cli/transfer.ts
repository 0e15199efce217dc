// load, save, pull, push, login, logout: images in and out.
import { Command, Option } from 'commander';
import type { GetContext } from '../runtime/context.js';

export function registerTransfer(program: Command, ctx: GetContext): void {
  const load = program
    .command('load')
    .description('load images from a docker-archive, OCI archive or OCI layout directory (plain or compressed)')
    .option('-i, --input <path>', 'read from a file or directory instead of stdin')
    .option('-q, --quiet', 'print only the loaded image ids')
    .option('--platform <os/arch[/variant]>', 'for image indexes: the platform to load (default: this machine)')
    .action(async (opts: { input?: string; quiet?: boolean; platform?: string }) => {
      const { loadImages } = await import('../image/archive/load.js');
      const loaded = await loadImages(ctx(), { input: opts.input ?? '-', platform: opts.platform });
      for (const l of loaded) {
        if (opts.quiet) process.stdout.write(`${l.id}\n`);
        else if (l.tags.length === 0) process.stdout.write(`Loaded image ID: ${l.id}\n`);
        else for (const t of l.tags) process.stdout.write(`Loaded image: ${t}\n`);
      }
    });
  void load;

  program
    .command('save')
    .description('save images to a docker-archive (default), OCI archive or OCI layout directory')
    .argument('<image...>', 'image references or ids')
    .option('-o, --output <path>', 'write to a file (a directory for oci-dir) instead of stdout')
    .addOption(
      new Option('--format <format>', 'archive format')
        .choices(['docker-archive', 'oci-archive', 'oci-dir'])
        .default('docker-archive'),
    )
    .action(async (refs: string[], opts: { output?: string; format: 'docker-archive' | 'oci-archive' | 'oci-dir' }) => {
      const { saveImages } = await import('../image/archive/save.js');
      await saveImages(ctx(), { refs, format: opts.format, output: opts.output });
    });
}
