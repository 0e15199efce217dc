// Lab number -> its checker.
import type { Checker } from '../types.js';
import { checkMount, checkPid, checkUtsIpc } from './namespaces.js';
import { checkBridge, checkVeth } from './network.js';
import { checkCpu, checkMemory, checkPidsFreezer } from './cgroups.js';
import { checkCaps, checkOverlay, checkThin, checkUserns } from './fs-security.js';

export const CHECKERS: Readonly<Record<number, Checker>> = {
  1: checkPid,
  2: checkMount,
  3: checkUtsIpc,
  4: checkVeth,
  5: checkBridge,
  6: checkMemory,
  7: checkCpu,
  8: checkPidsFreezer,
  9: checkOverlay,
  10: checkCaps,
  11: checkUserns,
  12: checkThin,
};
