/**
 * Shared by the TFTP lab tests and the benchmark: start a server inside a lab
 * host and wait for it to be ready, make random files, hash files.
 */
import type { ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Lab, LabHost } from '../netns.ts';

/** The project's Node 24 (the machine's own node is older). */
export const NODE = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url));
/** Our TFTP server runner and client runner. */
export const SERVE = fileURLToPath(new URL('./serve.ts', import.meta.url));
export const GET = fileURLToPath(new URL('./get.ts', import.meta.url));

/** Wait until a child prints a line matching `re` on stdout; reject if it exits first or after `ms`. */
export function waitForLine(child: ChildProcess, re: RegExp, ms = 15_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`no ${re} within ${ms} ms; stderr: ${err.slice(-2000)}`)), ms);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = re.exec(out);
      if (m) {
        cleanup();
        resolve(m);
      }
    };
    const onErr = (d: Buffer): void => {
      err += d.toString();
    };
    const onExit = (code: number | null): void => fail(new Error(`exited (${code}) before ${re}; stderr: ${err.slice(-2000)}`));
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
    };
    const fail = (e: Error): void => {
      cleanup();
      reject(e);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onErr);
    child.once('exit', onExit);
  });
}

/** Start our server in `host` on port 69 of its address; resolves once it listens. */
export async function startOurServer(host: LabHost, root: string, extra: string[] = []): Promise<ChildProcess> {
  const child = host.spawn(NODE, [SERVE, '--root', root, '--address', host.address!, ...extra]);
  child.stderr?.on('data', () => undefined); // keep the pipe drained
  await waitForLine(child, /READY (\d+)/);
  return child;
}

/** Write `size` random bytes to `path` in 1 MiB pieces (no whole-file buffer). */
export async function writeRandomFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  const piece = Buffer.alloc(1 << 20);
  try {
    for (let done = 0; done < size; done += piece.length) {
      const n = Math.min(piece.length, size - done);
      randomFillSync(piece, 0, n);
      await fh.write(piece, 0, n);
    }
  } finally {
    await fh.close();
  }
}

export { sha256File } from '../../images/hash.ts';

/**
 * Make the lab's bridge lose `percent`% of the UDP datagrams it forwards, in
 * both directions: a lossy link. `lab.netem` would be the usual tool, but this
 * machine's kernel has no sch_netem; nftables' bridge family with `numgen
 * random` drops in the switch namespace instead, invisible to both ends (a drop
 * on a host's own output hook would fail its sendto() with EPERM, which
 * tftp-hpa treats as fatal). `percent` 0 removes the loss.
 */
export async function udpLoss(lab: Lab, percent: number): Promise<void> {
  const sw = lab.switch;
  await sw.exec('nft', ['delete', 'table', 'bridge', 'tftploss']).catch(() => undefined);
  if (percent === 0) return;
  await sw.exec('nft', ['add', 'table', 'bridge', 'tftploss']);
  await sw.exec('nft', ['add', 'chain', 'bridge', 'tftploss', 'lossy', '{ type filter hook forward priority 0; }']);
  await sw.exec('nft', ['add', 'rule', 'bridge', 'tftploss', 'lossy', 'meta', 'l4proto', 'udp', 'numgen', 'random', 'mod', '100', '<', String(percent), 'drop']);
}
