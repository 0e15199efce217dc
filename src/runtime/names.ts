// Random container names in docker's style: adjective_scientist.
import { randomBytes, randomInt } from 'node:crypto';

const LEFT = [
  'brave',
  'calm',
  'clever',
  'eager',
  'fervent',
  'focused',
  'gentle',
  'happy',
  'jolly',
  'keen',
  'kind',
  'lucid',
  'merry',
  'modest',
  'nifty',
  'quiet',
  'quirky',
  'serene',
  'sharp',
  'stoic',
  'sweet',
  'tender',
  'upbeat',
  'vivid',
  'wizardly',
  'zealous',
  'bold',
  'crisp',
  'dreamy',
  'elated',
];
const RIGHT = [
  'lovelace',
  'turing',
  'hopper',
  'ritchie',
  'thompson',
  'torvalds',
  'knuth',
  'dijkstra',
  'hamilton',
  'curie',
  'noether',
  'euler',
  'gauss',
  'shannon',
  'babbage',
  'kernighan',
  'liskov',
  'lamport',
  'allen',
  'goldberg',
  'perlman',
  'wozniak',
  'cerf',
  'tanenbaum',
  'mccarthy',
  'backus',
  'hoare',
];

export function randomName(attempt = 0): string {
  const base = `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}`;
  return attempt === 0 ? base : `${base}${randomInt(10 * attempt)}`;
}

/** 64 hex characters, as docker's container ids. */
export function newContainerId(): string {
  return randomBytes(32).toString('hex');
}

/** 32 hex characters for a driver directory. */
export function newCacheId(): string {
  return randomBytes(16).toString('hex');
}
