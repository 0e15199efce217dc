// load, save, pull, push, login, logout: images in and out.
import { Command, Option } from 'commander';
import type { GetContext } from '../runtime/context.js';

export function registerTransfer(program: Command, ctx: GetContext): void {
  program
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
  registerRegistry(program, ctx);
}

function tlsVerifyOption(): Option {
  return new Option('--tls-verify [bool]', 'verify TLS certificates (false also allows plain HTTP)')
    .choices(['true', 'false'])
    .preset('true')
    .default('true');
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function prompt(question: string, hidden: boolean): Promise<string> {
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  if (hidden) {
    const w = rl as unknown as { _writeToOutput: (s: string) => void };
    w._writeToOutput = (s: string) => {
      if (s.startsWith(question)) process.stderr.write(question);
    };
  }
  const answer = await new Promise<string>((res) => rl.question(question, res));
  rl.close();
  if (hidden) process.stderr.write('\n');
  return answer;
}

export function registerRegistry(program: Command, ctx: GetContext): void {
  program
    .command('pull')
    .description('pull an image from a registry')
    .argument('<reference>', 'NAME[:TAG] or NAME@sha256:DIGEST (docker.io is the default registry)')
    .option('--platform <os/arch[/variant]>', 'the platform to pull from an image index (default: this machine)')
    .option('-q, --quiet', 'print only the image name')
    .addOption(tlsVerifyOption())
    .action(async (reference: string, opts: { platform?: string; quiet?: boolean; tlsVerify: string }) => {
      const { pullImage } = await import('../image/registry/pull.js');
      const { ProgressBoard } = await import('../util/progress.js');
      const board = opts.quiet ? undefined : new ProgressBoard();
      const labels: Record<string, string> = { exists: 'Already exists', downloading: 'Downloading', done: 'Pull complete' };
      const r = await pullImage(ctx(), reference, {
        platform: opts.platform,
        tlsVerify: opts.tlsVerify !== 'false',
        onProgress: (p) =>
          board?.update({ id: p.digest.slice(7, 19), state: labels[p.state] ?? p.state, bytes: p.bytes, total: p.total }),
      });
      board?.finish();
      if (opts.quiet) {
        process.stdout.write(`${r.name}\n`);
        return;
      }
      process.stdout.write(`Digest: ${r.digest.split('@')[1]}\n`);
      process.stdout.write(`Status: ${r.upToDate ? 'Image is up to date' : 'Downloaded newer image'} for ${r.name}\n`);
      process.stdout.write(`${r.name}\n`);
    });

  program
    .command('push')
    .description('push an image to a registry')
    .argument('<reference>', 'NAME[:TAG] of a local image')
    .option('-q, --quiet', 'print nothing but errors')
    .addOption(tlsVerifyOption())
    .action(async (reference: string, opts: { quiet?: boolean; tlsVerify: string }) => {
      const { pushImage } = await import('../image/registry/push.js');
      const r = await pushImage(ctx(), reference, {
        tlsVerify: opts.tlsVerify !== 'false',
        onStatus: (line) => {
          if (!opts.quiet) process.stdout.write(`${line}\n`);
        },
      });
      if (!opts.quiet) process.stdout.write(`${r.tag.replace(/^.*:/, '')}: digest: ${r.digest} size: ${r.size}\n`);
    });

  program
    .command('login')
    .description('log in to a registry (credentials go to $DOCKER_CONFIG/config.json, mode 0600)')
    .argument('<registry>', 'host[:port]')
    .option('-u, --username <name>', 'user name')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .addOption(tlsVerifyOption())
    .action(
      async (registry: string, opts: { username?: string; password?: string; passwordStdin?: boolean; tlsVerify: string }) => {
        const { login } = await import('../image/registry/login.js');
        const { UsageError } = await import('../util/errors.js');
        if (opts.passwordStdin && opts.password !== undefined)
          throw new UsageError('--password and --password-stdin are mutually exclusive');
        if (opts.passwordStdin && opts.username === undefined) throw new UsageError('--password-stdin needs --username');
        let username = opts.username;
        let password = opts.password;
        if (opts.passwordStdin) password = await readStdin();
        if (username === undefined) {
          if (!process.stdin.isTTY) throw new UsageError('login needs -u USER when stdin is not a terminal');
          username = await prompt('Username: ', false);
        }
        if (password === undefined) {
          if (!process.stdin.isTTY) throw new UsageError('login needs --password-stdin or -p when stdin is not a terminal');
          password = await prompt('Password: ', true);
        } else if (opts.password !== undefined) {
          process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
        }
        await login(registry, { username, password }, { tlsVerify: opts.tlsVerify !== 'false' });
        process.stdout.write('Login Succeeded\n');
      },
    );

  program
    .command('logout')
    .description('log out from a registry')
    .argument('<registry>', 'host[:port]')
    .action(async (registry: string) => {
      const { logout, registryHost } = await import('../image/registry/login.js');
      const host = registryHost(registry);
      if (logout(registry)) process.stdout.write(`Removing login credentials for ${host}\n`);
      else process.stdout.write(`Not logged in to ${host}\n`);
    });
}
