/**
 * `imgsrv capture HOST`: ask the running server to capture a host, then
 * follow it until it ends. Ctrl-C asks the server to cancel (nothing is
 * published); a second Ctrl-C leaves without waiting.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ERROR_CODES, ImgsrvError, type ErrorCode } from '../../../core/errors.ts';
import type { CaptureView } from '../../capture/manager.ts';
import type { CaptureStats } from '../../capture/run.ts';
import { apiFor } from '../client.ts';
import { createProgressView } from './capture-progress.ts';
import { humanBytes } from '../output.ts';
import { exitAfterDrain } from '../exit.ts';

interface CaptureFlags {
  name?: string;
  user?: string;
  port?: number;
  identity?: string;
  hostKey?: string;
  knownHosts?: string;
  json?: boolean;
}

/** One line summing up a finished capture. */
export function summarize(c: CaptureView): string {
  const s = c.stats as unknown as CaptureStats | null;
  const head = `captured ${c.source} as ${c.name}@${c.version}`;
  if (!s) return head;
  const r = s.rsync;
  const ratio = s.compressedBytes ? (s.rawBytes / s.compressedBytes).toFixed(1) : '?';
  const rsync = r ? `rsync received ${humanBytes(r.bytesReceived)} for ${humanBytes(r.totalFileSize)} of files (${s.incremental ? 'incremental' : 'full'}) in ${s.rsyncSeconds}s` : 'no rsync stats';
  return `${head}: ${humanBytes(s.rawBytes)} raw, ${humanBytes(s.compressedBytes)} compressed (${ratio}x), ${s.files} files; ${rsync}; packed in ${s.packSeconds}s`;
}

export function registerCapture(program: Command): void {
  program
    .command('capture <host>')
    .description('capture a sample host (HOST, USER@HOST or rsync://HOST/MODULE) into a new image version')
    .option('--name <name>', 'image name (default: from the host)')
    .option('--user <user>', 'ssh user (default: root, or capture.ssh.user)')
    .addOption(new Option('--port <port>', 'ssh port (default 22)').argParser(parsePort))
    .option('--identity <key>', 'ssh private key file on the server')
    .addOption(new Option('--host-key <fingerprint>', "pin the host's ssh key (SHA256:…, from ssh-keygen -lf on the host): any other key is refused").conflicts('knownHosts'))
    .option('--known-hosts <file>', "pin the host's ssh key by a known_hosts file (read here, sent to the server): its lines for the host are the only keys accepted")
    .option('--json', 'print the finished capture record as JSON')
    .action(async (host: string, flags: CaptureFlags, cmd: Command) => {
      const api = apiFor(cmd);
      const started = await api.request<CaptureView>('POST', '/api/v1/captures', {
        source: host,
        name: flags.name,
        user: flags.user,
        port: flags.port,
        identity: flags.identity === undefined ? undefined : resolve(flags.identity),
        hostKey: flags.hostKey,
        knownHosts: flags.knownHosts === undefined ? undefined : readKnownHosts(flags.knownHosts),
      });
      const tty = Boolean(process.stdout.isTTY && process.stderr.isTTY) && !flags.json;
      const view = createProgressView(tty);
      let keyShown = false;
      const showKey = (c: CaptureView) => {
        if (keyShown || !c.hostKey) return;
        keyShown = true;
        process.stderr.write(`${hostKeyLine(c)}\n`);
      };
      if (!flags.json) process.stderr.write(`capture ${started.id}: ${started.source} → ${started.name}\n`);

      let interrupts = 0;
      const onSigint = () => {
        interrupts++;
        if (interrupts > 1) {
          view.stop();
          process.stderr.write(`imgsrv: left without waiting; the server is still cancelling ${started.id}\n`);
          void exitAfterDrain(130);
        }
        process.stderr.write(`\ncancelling ${started.id} (Ctrl-C again to leave without waiting)…\n`);
        api.request('POST', `/api/v1/captures/${started.id}/cancel`).catch((err: unknown) => process.stderr.write(`imgsrv: cancel failed: ${(err as Error).message}\n`));
      };
      process.on('SIGINT', onSigint);
      process.on('SIGTERM', onSigint);
      let c: CaptureView = { ...started, progress: null, seq: -1 };
      try {
        for (;;) {
          c = await api.request<CaptureView>('GET', `/api/v1/captures/${started.id}${c.seq < 0 ? '' : `?since=${c.seq}&wait=10`}`);
          view.update(c);
          showKey(c);
          if (c.state !== 'running') break;
        }
      } finally {
        view.stop();
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
      }
      if (c.state === 'done') {
        if (flags.json) process.stdout.write(JSON.stringify(c, null, 2) + '\n');
        else process.stdout.write(`${summarize(c)}\n`);
        return;
      }
      if (flags.json) process.stdout.write(JSON.stringify(c, null, 2) + '\n');
      const code = (c.errorCode && c.errorCode in ERROR_CODES ? c.errorCode : 'CAPTURE_FAILED') as ErrorCode;
      throw new ImgsrvError(code, c.error ?? `capture ${c.state}`);
    });
}

/** What the CLI says about the host key once the server verified it. */
export function hostKeyLine(c: Pick<CaptureView, 'id' | 'source' | 'hostKey'>): string {
  const k = c.hostKey!;
  const key = `${k.fingerprint} (${k.type})`;
  if (k.trust === 'first-use') return `capture ${c.id}: first capture of ${c.source}: accepted its ssh host key ${key}; check it on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) or pin it with --host-key`;
  return `capture ${c.id}: ssh host key of ${c.source} ${key} ${k.trust === 'pinned' ? 'matches the pin' : 'is the one earlier captures saw'}`;
}

/** A known_hosts file the operator names: read here (it is public), bounded, one clear line when it cannot be. */
function readKnownHosts(file: string): string {
  try {
    // The API's limit: an operator's whole ~/.ssh/known_hosts (hashed, so not filtered here) fits.
    if (statSync(file).size > 512 * 1024) throw new ImgsrvError('BAD_USAGE', `${file} is larger than 512 KiB`, { hint: 'give a known_hosts file with the lines for this host (ssh-keygen -F HOST -f FILE prints them)' });
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ImgsrvError) throw err;
    throw new ImgsrvError('BAD_USAGE', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { hint: 'give the path of a readable known_hosts file' });
  }
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('must be a port number 1-65535');
  return n;
}
