// Typed errors. Every error a user can see carries the one sentence to print and the exit
// code, following docker's conventions:
//   125  tscontainer itself failed (bad flag, bad image name, setup failure)
//   126  the container's command exists but cannot be executed
//   127  the container's command was not found
//   1    a management command failed (unknown container, wrong state), as `docker rm` does
// Anything else is the container's own exit code and is not an error of ours.

export const EXIT_OWN = 125;
export const EXIT_CANNOT_EXEC = 126;
export const EXIT_NOT_FOUND = 127;
export const EXIT_MANAGEMENT = 1;

export class TscError extends Error {
  readonly exitCode: number;
  override readonly name: string = 'TscError';
  constructor(message: string, exitCode: number = EXIT_OWN, options?: { cause?: unknown }) {
    super(message, options);
    this.exitCode = exitCode;
  }
}

/** A user-supplied value (flag, reference, Dockerfile line) is invalid. */
export class UsageError extends TscError {
  override readonly name = 'UsageError';
  constructor(message: string) {
    super(message, EXIT_OWN);
  }
}

/** Something the user named does not exist (image, container, network). */
export class NotFoundError extends TscError {
  override readonly name = 'NotFoundError';
  constructor(message: string, exitCode: number = EXIT_OWN) {
    super(message, exitCode);
  }
}

/** The object exists but is in the wrong state for the request (rm of a running container). */
export class ConflictError extends TscError {
  override readonly name = 'ConflictError';
  constructor(message: string, exitCode: number = EXIT_OWN) {
    super(message, exitCode);
  }
}

/** The kernel or this machine lacks a feature the request needs. */
export class UnsupportedError extends TscError {
  override readonly name = 'UnsupportedError';
  constructor(message: string) {
    super(message, EXIT_OWN);
  }
}

/** The container's process could not be started (not found: 127, not executable: 126). */
export class ExecError extends TscError {
  override readonly name = 'ExecError';
}

/** A system call or external tool failed while we were doing our own work. */
export class SystemError extends TscError {
  override readonly name = 'SystemError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT_OWN, options);
  }
}

/** Turns anything thrown into a TscError with a one-line message. */
export function toTscError(err: unknown): TscError {
  if (err instanceof TscError) return err;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const first = err.message.split('\n')[0] ?? String(err);
    return new SystemError(code && !first.includes(code) ? `${first} (${code})` : first, { cause: err });
  }
  return new SystemError(String(err));
}

/** The first line of an error's message, for embedding in one-sentence errors. */
export function errnoMessage(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? err.name;
  return String(err);
}
