/**
 * Run the restore's commands as the netboot environment does: a command the
 * builder links to busybox (server/netboot-env/build.ts APPLETS) runs as
 * that busybox applet, with busybox's options; a tool the builder copies
 * from this host (payload.ts TOOLS) runs as the host's own binary, which is
 * the node's. Any other command is refused, as the node would fail to find
 * it: a restore test that calls a program the netboot environment lacks, or
 * a util-linux-only option of an applet, fails here, not on a node.
 */
import { basename } from 'node:path';
import { APPLETS } from '../../../server/netboot-env/build.ts';
import { TOOLS } from '../../../server/netboot-env/payload.ts';
import { StepError, type Runner } from '../run.ts';

/** The busybox the builder ships (Debian's busybox-static). */
export const BUSYBOX = '/bin/busybox';

/** What a netboot environment has: its busybox applets and its host tools (by path). */
export interface NetbootTree {
  applets: readonly string[];
  tools: readonly string[];
}

/** The netboot environment `imgsrv netboot build` makes. */
export const NETBOOT_TREE: NetbootTree = { applets: APPLETS, tools: TOOLS };

/** Wrap `inner` so that commands run as the netboot environment `tree` runs them, and only those it has. */
export function netbootRunner(inner: Runner, busybox = BUSYBOX, tree: NetbootTree = NETBOOT_TREE): Runner {
  const tools = new Map(tree.tools.map((t) => [basename(t), t]));
  return {
    run: (step, argv, opts) => {
      const cmd = argv[0];
      if (cmd !== undefined && tree.applets.includes(cmd)) return inner.run(step, [busybox, ...argv], opts);
      if (cmd !== undefined && (tools.has(cmd) || tree.tools.includes(cmd))) return inner.run(step, argv, opts);
      return Promise.reject(new StepError(step, argv, '', `could not start (${cmd ?? '(empty)'}: not in the netboot environment: neither a busybox applet nor a tool it ships)`));
    },
  };
}
