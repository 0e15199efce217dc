// Random container names in docker's style: adjective_scientist.
import { randomBelow, randomHex } from '../util/random.js';

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
  const base = `${LEFT[randomBelow(LEFT.length)]}_${RIGHT[randomBelow(RIGHT.length)]}`;
  return attempt === 0 ? base : `${base}${randomBelow(10 * attempt)}`;
}

/** 64 hex characters, as docker's container ids. */
export function newContainerId(): string {
  return randomHex(32);
}

/** 32 hex characters for a driver directory. */
export function newCacheId(): string {
  return randomHex(16);
}
