// The shapes the labs share: a lab's definition (labs/NN-slug/lab.json), the environment a
// workspace hands to the student's script, and the checker's report.
import type { CgroupLayout } from '../cgroups/index.js';

/** What labs/NN-slug/lab.json says. */
export interface LabDef {
  readonly number: number;
  readonly slug: string;
  readonly title: string;
  /** The file the student writes in the workspace (copied from labs/NN-slug/starter/). */
  readonly task: string;
  /** What the workspace needs besides the starter file. */
  readonly needs: readonly LabNeed[];
  /** labs/NN-slug, absolute. */
  readonly dir: string;
  /** labs/NN-slug/README.md, absolute. */
  readonly page: string;
}

export type LabNeed = 'rootfs' | 'cgroup' | 'net' | 'layers';

/** The variables of a workspace's lab.env, passed to the student's script by the checker. */
export type LabEnv = Readonly<Record<string, string>>;

/** One property the checker verified, in the order it checks them. */
export interface Check {
  readonly property: string;
  readonly ok: boolean;
  /** When not ok: what is missing and how to get it. */
  readonly hint?: string;
  /** What the kernel showed (an inode, a file's value), for the curious. */
  readonly detail?: string;
}

export interface CheckReport {
  readonly lab: number;
  readonly title: string;
  readonly passed: boolean;
  readonly checks: readonly Check[];
  /** "cgroup v1 (hybrid)" and so on: every report says which layout it ran on. */
  readonly cgroup: string;
  /** Set when this machine cannot run the lab at all (no dm-thin); passed is false then. */
  readonly unsupported?: string;
  /** The last lines the student's script wrote, shown when a check failed. */
  readonly output?: string;
}

/** What a checker gets: the workspace, its variables, the script to run, the cgroup layout. */
export interface CheckInput {
  readonly lab: LabDef;
  readonly workspace: string;
  readonly env: LabEnv;
  readonly script: string;
  readonly cgroups: CgroupLayout | undefined;
}

/** Thrown inside a checker to stop at the first missing property (see checks.ts). */
export class CheckFailed extends Error {
  constructor(readonly check: Check) {
    super(check.property);
  }
}

export type Checker = (input: CheckInput, t: CheckList) => Promise<void>;

/** The checks of one run, built by the checker as it goes. */
export interface CheckList {
  /** Records a property; when `ok` is false, stops the checker with `hint`. */
  expect(property: string, ok: boolean, hint: string, detail?: string): void;
  /** Records that the machine cannot run this lab, and stops. */
  unsupported(reason: string): never;
  /** Appends output of the student's script for the report. */
  output(text: string): void;
}
