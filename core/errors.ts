/**
 * One catalogue of coded errors. Each message says what was wrong and what to
 * do next; layers add context with `withContext`, never by string-building
 * a new error type.
 */

/** Every error code imgsrv can report, with its exit status for the CLI. */
export const ERROR_CODES = {
  BAD_USAGE: { exit: 2 },
  BAD_CONFIG: { exit: 2 },
  NOT_FOUND: { exit: 1 },
  UNAUTHORIZED: { exit: 1 },
  FORBIDDEN: { exit: 1 },
  CONFLICT: { exit: 1 },
  SERVER_UNREACHABLE: { exit: 1 },
  IO: { exit: 1 },
  SOCKET: { exit: 1 },
  NETBOOT_BUILD: { exit: 1 },
  INTERNAL: { exit: 1 },
  // capture (server/capture): each says what the operator should do next
  HOST_UNREACHABLE: { exit: 1 },
  SSH_AUTH: { exit: 1 },
  HOST_KEY: { exit: 1 },
  NO_RSYNC: { exit: 1 },
  NOT_ROOT: { exit: 1 },
  LAYOUT_UNSUPPORTED: { exit: 1 },
  DISK_FULL: { exit: 1 },
  CONNECTION_LOST: { exit: 1 },
  CAPTURE_FAILED: { exit: 1 },
  CANCELLED: { exit: 130 },
  // image store (server/images)
  IMAGE_INVALID: { exit: 1 },
  // node restore (initramfs-client/restore)
  STEP_FAILED: { exit: 1 },
  DISK: { exit: 1 },
  KEEP_DATA: { exit: 1 },
  // power drivers (server/power): the BMC's own answer, classified
  BMC_AUTH: { exit: 1 },
  BMC_UNREACHABLE: { exit: 1 },
  BMC_BUSY: { exit: 1 },
  BMC_FAILED: { exit: 1 },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error with a stable code, a one-line message and a hint saying what to do. */
export class ImgsrvError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  constructor(code: ErrorCode, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'ImgsrvError';
    this.code = code;
    this.hint = opts.hint;
  }

  /** The one line the CLI prints: message, then the hint. */
  oneLine(): string {
    return this.hint ? `${this.message}: ${this.hint}` : this.message;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }
}

/** Prefix an error's message with what the caller was doing, keeping code and hint. */
export function withContext(err: unknown, context: string): ImgsrvError {
  if (err instanceof ImgsrvError) {
    return new ImgsrvError(err.code, `${context}: ${err.message}`, { hint: err.hint, cause: err.cause ?? err });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new ImgsrvError('INTERNAL', `${context}: ${msg}`, { cause: err });
}
