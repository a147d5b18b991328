/**
 * Run the restore's commands as the netboot environment does: a command the
 * builder links to busybox (server/netboot-env/build.ts APPLETS) runs as
 * that busybox applet, with busybox's options; every other command is a
 * tool the builder copies from this host (payload.ts TOOLS), so the host's
 * own binary is the node's. Tests of restore code that shells out run with
 * this runner so that a util-linux-only option fails here, not on a node.
 */
import { APPLETS } from '../../../server/netboot-env/build.ts';
import type { Runner } from '../run.ts';

/** The busybox the builder ships (Debian's busybox-static). */
export const BUSYBOX = '/bin/busybox';

/** Wrap `inner` so that busybox applets run as the netboot environment runs them. */
export function netbootRunner(inner: Runner, busybox = BUSYBOX): Runner {
  return {
    run: (step, argv, opts) => (argv[0] !== undefined && APPLETS.includes(argv[0]) ? inner.run(step, [busybox, ...argv], opts) : inner.run(step, argv, opts)),
  };
}
