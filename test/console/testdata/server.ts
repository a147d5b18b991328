/**
 * A real `imgsrv serve` for the console's browser tests: a temp data dir with
 * two published image versions, started on loopback when the server accepts `lo`,
 * otherwise inside a lab network namespace (198.18.0.1) that Chromium joins too.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { dataPaths, nodeTokenOf } from '../../../server/data-dir.ts';
import { resolveInterface } from '../../../server/interfaces.ts';
import { Lab, labAvailable, stopChild } from '../../../lab/netns.ts';
import { makeTestImage } from '../../../lab/swarm-image.ts';

export const REPO = resolve(import.meta.dirname, '..', '..', '..');

/** A running server and how to reach it. */
export interface ConsoleServer {
  base: string;
  data: string;
  adminToken: string;
  /** Node `mac`'s own token. */
  nodeToken: (mac: string) => string;
  /** Where the server runs: 'lo', or the lab namespace's name. */
  where: string;
  /** The Chromium binary to launch: /usr/bin/chromium, or a wrapper that enters the namespace. */
  chromium: string;
  log: () => string;
  /**
   * Start a node-side process: in a lab namespace of its own at 198.18.0.(20+i) on the server's bridge
   * (each node its own host, as the swarm expects), or at 127.0.0.(20+i) on loopback. stop() ends it.
   */
  spawnNode(i: number, cmd: string, args: (address: string) => string[]): Promise<ChildProcess>;
  stop(): Promise<void>;
}

/** A TCP port nobody listens on right now (loopback). */
async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

/** Whether the server's interface resolution accepts the loopback interface. */
function loopbackAccepted(): boolean {
  try {
    resolveInterface('lo');
    return true;
  } catch {
    return false;
  }
}

/** Whether this machine can run the console tests' server: on `lo`, or in a lab namespace (root). */
export async function consoleServerAvailable(): Promise<boolean> {
  if (loopbackAccepted() || (await labAvailable())) return true;
  console.warn('console browser tests skipped: imgsrv does not accept `lo` and lab namespaces need root');
  return false;
}

/** Start the server; resolves once it logs "imgsrv ready". */
export async function startConsoleServer(): Promise<ConsoleServer> {
  const data = mkdtempSync(join(tmpdir(), 'imgsrv-console-browser-'));
  let lab: Lab | undefined;
  let child: ChildProcess | undefined;
  const others = new Set<ChildProcess>();
  let out = '';
  const cleanup = async () => {
    await Promise.all([...others].map((c) => stopChild(c)));
    if (child) await stopChild(child, 5000);
    await lab?.destroy();
    rmSync(data, { recursive: true, force: true });
  };
  try {
    // Two versions of an 8 MB image, packed as a capture packs them (with their torrent info).
    for (let v = 1; v <= 2; v++) await makeTestImage(data, 'web', 8 << 20);
    const onLo = loopbackAccepted();
    const address = onLo ? '127.0.0.1' : '198.18.0.1';
    // In our own namespace every port is free; on the shared loopback ask the kernel for free ones.
    const [http, torrent, rsync] = onLo ? [await freePort(), await freePort(), await freePort()] : [8080, 6881, 8873];
    const config = {
      interface: onLo ? 'lo' : 'eth0',
      http: { port: http },
      log: { level: 'info' },
      dhcp: { mode: 'off' },
      tftp: { enabled: false },
      // The capture test points at an address nobody answers: fail fast.
      capture: { ssh: { connectTimeout: 3 } },
      // A capped seeder, as on a real LAN with many nodes: each piece leaves the server about once, peers carry the rest.
      swarm: { enabled: true, torrentPort: torrent, rsyncPort: rsync, uploadLimit: '16Mbit' },
    };
    const configFile = join(data, 'imgsrv.yaml');
    writeFileSync(configFile, stringify(config));
    const args = [join(REPO, 'server', 'cli', 'main.ts'), '--data', data, 'serve', '--config', configFile];
    let chromium = '/usr/bin/chromium';
    if (onLo) {
      child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    } else {
      lab = await Lab.create();
      const host = await lab.addHost('srv', `${address}/24`);
      child = host.spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
      // Chromium joins the server's namespace: Playwright talks to it over a pipe, so that still works.
      chromium = join(data, 'chromium-in-ns.sh');
      writeFileSync(chromium, `#!/bin/sh\nexec ip netns exec ${host.ns} /usr/bin/chromium "$@"\n`);
      chmodSync(chromium, 0o755);
    }
    const proc = child;
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`imgsrv serve did not become ready in 30 s:\n${out}`)), 30_000);
      const check = () => out.includes('"imgsrv ready"') && (clearTimeout(timer), ok());
      proc.stdout!.on('data', check);
      proc.stderr!.on('data', check);
      proc.once('exit', (code) => (clearTimeout(timer), fail(new Error(`imgsrv serve exited with ${code}:\n${out}`))));
    });
    const paths = dataPaths(data);
    return {
      base: `http://${address}:${http}`,
      data,
      adminToken: readFileSync(paths.adminToken, 'utf8').trim(),
      nodeToken: (mac: string) => nodeTokenOf(data, mac),
      where: lab ? `namespace ${lab.id}-srv` : 'lo',
      chromium,
      log: () => out,
      spawnNode: async (i, cmd, args) => {
        const opts: SpawnOptions = { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] };
        let c: ChildProcess;
        if (lab) {
          const address = `198.18.0.${20 + i}`;
          const node = await lab.addHost(`n${i}`, `${address}/24`);
          c = node.spawn(cmd, args(address), opts);
        } else c = spawn(cmd, args(`127.0.0.${20 + i}`), opts);
        others.add(c);
        c.once('exit', () => others.delete(c));
        return c;
      },
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
