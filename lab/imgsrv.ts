/**
 * Run the real `imgsrv` CLI inside a lab namespace: the server with a temp
 * data dir, and client commands against it, exactly as an operator would.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { readPublicKeyFiles } from '../server/netboot-env/trusted-keys.ts';
import { signingPaths } from '../server/images/signer.ts';
import { execFile, type ChildProcess } from 'node:child_process';
import { sh, stopChild, type LabHost } from './netns.ts';

export const REPO = resolve(import.meta.dirname, '..');
export const IMGSRV = join(REPO, 'bin', 'imgsrv');

/** A running `imgsrv serve` in a lab host. */
export interface LabServer {
  data: string;
  child: ChildProcess;
  /** Everything the server logged (pino JSON lines). */
  log: () => string;
  /** Run an imgsrv CLI command in the server's namespace against it. */
  cli(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** How startLabServer starts the server. */
export interface LabServerOptions {
  /** Data dir (default: a new temp dir). */
  data?: string;
  /** Rewrite the command line, e.g. to run it under nice(1); the result must exec the server, so the PID stays the server's. */
  command?: (cmd: string, args: string[]) => [string, string[]];
}

/** Start `imgsrv serve --data <tmp> …args` in `host`; resolves once it logs "imgsrv ready". */
export async function startLabServer(host: LabHost, args: string[], opts: LabServerOptions = {}): Promise<LabServer> {
  const data = opts.data ?? mkdtempSync(join(tmpdir(), 'imgsrv-lab-data-'));
  const [cmd, argv] = (opts.command ?? ((c, a) => [c, a]))(IMGSRV, ['--data', data, 'serve', ...args]);
  const child = host.spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`imgsrv serve did not become ready in 30 s:\n${out}`)), 30_000);
    const check = () => {
      if (out.includes('"imgsrv ready"')) {
        clearTimeout(timer);
        ok();
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`imgsrv serve exited with ${code}:\n${out}`));
    });
  });
  return {
    data,
    child,
    log: () => out,
    cli: (cliArgs) => host.exec(IMGSRV, ['--data', data, ...cliArgs]),
    stop: () => stopChild(child),
  };
}

/** Fingerprint of everything that goes into the netboot build (the trusted keys' PEMs too), to reuse a cached build. */
function netbootInputsHash(trustedKeys: readonly string[]): string {
  const h = createHash('sha256');
  for (const pem of trustedKeys) h.update('trusted key\n').update(pem);
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (!name.endsWith('.test.ts')) h.update(p).update(String(statSync(p).mtimeMs)).update(String(statSync(p).size));
    }
  };
  walk(join(REPO, 'initramfs-client'));
  for (const f of ['server/cli/commands/netboot.ts', 'netboot/boot/ipxe.ts', 'images/signing.ts']) h.update(f).update(String(statSync(join(REPO, f)).mtimeMs));
  for (const f of readdirSync('/boot').filter((n) => n.startsWith('vmlinuz-')).sort()) h.update(f);
  return h.digest('hex').slice(0, 16);
}

/**
 * Put a netboot build into `data` with the real `imgsrv netboot build`,
 * built once per input fingerprint into .cache/ (lab tests share it). As for
 * an operator, the public keys already in `<data>/signing/*.pub` go in as the
 * keys nodes trust to sign images (the build sees copies of them).
 */
export async function provideNetboot(data: string): Promise<void> {
  const pubs = await readPublicKeyFiles(signingPaths(data).dir);
  const cacheData = join(REPO, '.cache', `netboot-${netbootInputsHash(pubs.map((p) => p.pem))}`);
  const built = join(cacheData, 'tftp', 'imgsrv');
  if (!existsSync(join(built, 'initrd.img'))) {
    rmSync(cacheData, { recursive: true, force: true });
    mkdirSync(signingPaths(cacheData).dir, { recursive: true });
    for (const p of pubs) writeFileSync(join(signingPaths(cacheData).dir, basename(p.file)), p.pem);
    await sh(IMGSRV, ['--data', cacheData, 'netboot', 'build'], { timeoutMs: 300_000 });
  }
  mkdirSync(join(data, 'tftp'), { recursive: true });
  cpSync(built, join(data, 'tftp', 'imgsrv'), { recursive: true });
}

/** What one CLI run returned. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the imgsrv CLI inside `host` with `--data data`; resolves with exit code and output (never rejects). */
export function runCli(host: LabHost, data: string, args: string[], timeoutMs = 300_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', host.ns, IMGSRV, '--data', data, ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
