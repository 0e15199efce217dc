// The typed instructions the parser produces. Arguments are kept as written (quotes and
// variables in place): substitution happens when the builder reaches the step, with the
// ARG and ENV values of that moment (see substitute.ts).

export interface Position {
  /** 1-based line of the instruction's keyword. */
  line: number;
  /** 1-based column of the keyword. */
  column: number;
  /** The last line the instruction (with continuations and heredocs) spans. */
  endLine: number;
}

/** Exec form (a JSON array) or shell form (a string for the SHELL, `/bin/sh -c` by default). */
export type CommandForm = { exec: string[] } | { shell: string };

export interface Heredoc {
  name: string;
  content: string;
  /** False for `<<"EOF"` / `<<'EOF'`: no variable substitution in the body. */
  expand: boolean;
  /** `<<-EOF`: leading tabs were stripped from each body line. */
  chomp: boolean;
}

export interface KeyValue {
  /** As written: quotes and variables unprocessed. */
  key: string;
  value: string;
}

interface Base extends Position {
  /** `KEYWORD args` as written, continuations joined (heredoc bodies not included). */
  text: string;
}

export interface FromInstruction extends Base {
  kind: 'FROM';
  image: string;
  stageName: string | undefined;
  platform: string | undefined;
}
export interface ArgInstruction extends Base {
  kind: 'ARG';
  args: { name: string; default: string | undefined }[];
}
export interface EnvInstruction extends Base {
  kind: 'ENV';
  pairs: KeyValue[];
}
export interface LabelInstruction extends Base {
  kind: 'LABEL';
  pairs: KeyValue[];
}
export interface RunInstruction extends Base {
  kind: 'RUN';
  command: CommandForm;
  heredocs: Heredoc[];
  network: 'none' | 'host' | 'default' | undefined;
}
export interface CmdInstruction extends Base {
  kind: 'CMD' | 'ENTRYPOINT';
  command: CommandForm;
}
export interface CopyInstruction extends Base {
  kind: 'COPY' | 'ADD';
  /** Unprocessed source words (context paths, globs, URLs for ADD, or heredoc names). */
  sources: string[];
  dest: string;
  from: string | undefined;
  chown: string | undefined;
  chmod: string | undefined;
  link: boolean;
  heredocs: Heredoc[];
}
export interface WorkdirInstruction extends Base {
  kind: 'WORKDIR';
  path: string;
}
export interface UserInstruction extends Base {
  kind: 'USER';
  user: string;
}
export interface ExposeInstruction extends Base {
  kind: 'EXPOSE';
  ports: string[];
}
export interface VolumeInstruction extends Base {
  kind: 'VOLUME';
  paths: string[];
}
export interface StopSignalInstruction extends Base {
  kind: 'STOPSIGNAL';
  signal: string;
}
export interface HealthcheckInstruction extends Base {
  kind: 'HEALTHCHECK';
  /** null for HEALTHCHECK NONE */
  test: string[] | null;
  /** Nanoseconds, as docker's config stores them (0: the default). */
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
}
export interface ShellInstruction extends Base {
  kind: 'SHELL';
  shell: string[];
}
export interface OnbuildInstruction extends Base {
  kind: 'ONBUILD';
  /** The trigger as stored in the image config, e.g. `RUN echo hi`. */
  trigger: string;
  inner: Instruction;
}
export interface MaintainerInstruction extends Base {
  kind: 'MAINTAINER';
  name: string;
}

export type Instruction =
  | FromInstruction
  | ArgInstruction
  | EnvInstruction
  | LabelInstruction
  | RunInstruction
  | CmdInstruction
  | CopyInstruction
  | WorkdirInstruction
  | UserInstruction
  | ExposeInstruction
  | VolumeInstruction
  | StopSignalInstruction
  | HealthcheckInstruction
  | ShellInstruction
  | OnbuildInstruction
  | MaintainerInstruction;

export interface Stage {
  from: FromInstruction;
  /** Index in the Dockerfile (0-based), the name COPY --from=N uses. */
  index: number;
  /** Lower-cased AS name, if any. */
  name: string | undefined;
  steps: Exclude<Instruction, FromInstruction>[];
}

export interface Dockerfile {
  /** The escape character from `# escape=` (default backslash). */
  escape: string;
  /** `# syntax=` (accepted and ignored). */
  syntax: string | undefined;
  /** ARGs before the first FROM (usable in FROM lines only). */
  globalArgs: ArgInstruction[];
  stages: Stage[];
}
