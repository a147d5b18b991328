/**
 * Leaving the CLI without losing output. When stdout or stderr is a pipe,
 * Node writes to it asynchronously: `process.exit()` right after a large
 * write drops whatever the kernel's pipe buffer (64 KiB) could not take yet,
 * so `imgsrv nodes ls --json | jq` saw exactly 65,536 bytes. Every exit of a
 * command goes through here and waits for both streams to drain first.
 */

/** Resolve once `stream` has handed every queued byte to the OS (or can take no more: closed, errored). */
export function drained(stream: NodeJS.WritableStream & { writableLength?: number; destroyed?: boolean }): Promise<void> {
  return new Promise((resolve) => {
    if (!stream.writableLength || stream.destroyed) return resolve();
    const done = () => {
      stream.off('drain', done);
      stream.off('error', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('error', done);
    stream.on('close', done);
  });
}

/** Exit with `code` once stdout and stderr are drained. */
export async function exitAfterDrain(code: number): Promise<never> {
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}

/**
 * A reader that goes away (`imgsrv nodes ls | head`) makes the next write fail
 * with EPIPE: that ends the command quietly, as it does for other Unix tools,
 * instead of an unhandled 'error' event and a stack trace.
 */
export function exitQuietlyOnEpipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
}
