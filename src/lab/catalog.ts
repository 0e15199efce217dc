// The lab folders: labs/NN-slug/{README.md, lab.json, starter/}, found beside the program.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError, SystemError } from '../util/errors.js';
import { packageRoot } from '../util/paths.js';
import type { LabDef, LabNeed } from './types.js';

const NEEDS: readonly LabNeed[] = ['rootfs', 'cgroup', 'net', 'layers'];

export function labsDir(): string {
  return process.env['TSCONTAINER_LABS_DIR'] ?? join(packageRoot(), 'labs');
}

function parseLab(dir: string, name: string): LabDef {
  const file = join(dir, name, 'lab.json');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new SystemError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const o = raw as { number?: unknown; title?: unknown; task?: unknown; needs?: unknown };
  const needs = Array.isArray(o.needs) ? o.needs.filter((n): n is LabNeed => NEEDS.includes(n as LabNeed)) : [];
  if (typeof o.number !== 'number' || typeof o.title !== 'string' || typeof o.task !== 'string') {
    throw new SystemError(`${file} needs a number, a title and a task`);
  }
  return {
    number: o.number,
    slug: name,
    title: o.title,
    task: o.task,
    needs,
    dir: join(dir, name),
    page: join(dir, name, 'README.md'),
  };
}

/** All labs, by number. */
export function loadLabs(dir: string = labsDir()): LabDef[] {
  if (!existsSync(dir)) throw new SystemError(`no labs folder at ${dir}`);
  return readdirSync(dir)
    .filter((n) => /^\d\d-/.test(n) && existsSync(join(dir, n, 'lab.json')))
    .map((n) => parseLab(dir, n))
    .sort((a, b) => a.number - b.number);
}

export function findLab(number: number, dir?: string): LabDef {
  const lab = loadLabs(dir).find((l) => l.number === number);
  if (!lab) throw new NotFoundError(`no lab ${number}: 'tscontainer lab list' shows the labs`);
  return lab;
}
