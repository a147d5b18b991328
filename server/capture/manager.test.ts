import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImgsrvError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { openStore, type Store } from '../store/db.ts';
import { ImageLocks } from '../images/locks.ts';
import { ImageStore } from '../images/store.ts';
import { CaptureManager } from './manager.ts';
import type { CaptureJob } from './run.ts';

const settings = { excludes: [], zstdLevel: 3, threads: 0, connectTimeoutSeconds: 5, user: 'root', port: 22 };

/** A capture that reports progress, then waits to be released or aborted. */
function fakeRun() {
  let release!: (v: number) => void;
  let fail!: (e: unknown) => void;
  const jobs: CaptureJob[] = [];
  const run = (job: CaptureJob) => {
    jobs.push(job);
    job.onPhase('rsync');
    job.onProgress({ phase: 'rsync', bytes: 10, totalBytes: 100, bytesPerSecond: 5, etaSeconds: 18 });
    return new Promise<never>((resolve, reject) => {
      job.signal.addEventListener('abort', () => reject(job.signal.reason));
      release = (version) => resolve({ meta: { version }, stats: { incremental: false } } as never);
      fail = reject;
    });
  };
  return { run, jobs, release: (v: number) => release(v), fail: (e: unknown) => fail(e) };
}

describe('capture manager', () => {
  let store: Store;
  let images: ImageStore;
  let dir: string;
  beforeEach(() => {
    store = openStore(':memory:');
    dir = mkdtempSync(join(tmpdir(), 'imgsrv-cm-'));
    images = new ImageStore({ root: join(dir, 'images'), locks: new ImageLocks(store.db), logger: silentLogger });
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const manager = (run: ReturnType<typeof fakeRun>['run']) => new CaptureManager({ store, images, dataDir: '/nonexistent', settings, logger: silentLogger, run, eventIntervalMs: 0 });

  it('runs a capture, exposes progress, records success and events', async () => {
    const f = fakeRun();
    const m = manager(f.run);
    const rec = m.start({ source: '198.18.0.10', name: 'web' });
    expect(rec).toMatchObject({ name: 'web', source: 'root@198.18.0.10', state: 'running' });
    expect(m.get(rec.id)).toMatchObject({ phase: 'rsync', progress: { bytes: 10, totalBytes: 100 } });
    const seq = m.get(rec.id).seq;
    const waiting = m.waitForChange(rec.id, seq, 5000);
    f.release(4);
    const after = await waiting;
    expect(after.seq).toBeGreaterThan(seq);
    await new Promise((r) => setTimeout(r, 10));
    expect(m.get(rec.id)).toMatchObject({ state: 'done', version: 4, phase: 'done', error: null });
    expect(store.events.list().map((e) => e.kind)).toEqual(['capture.started', 'capture.phase', 'capture.progress', 'capture.done']);
  });

  it('refuses a second capture of the same image while one runs, and bad input at once', () => {
    const m = manager(fakeRun().run);
    m.start({ source: 'h1', name: 'web' });
    expect(() => m.start({ source: 'h2', name: 'web' })).toThrow(/already running/);
    expect(() => m.start({ source: 'x;rm -rf /' })).toThrow(/not a host name/);
    expect(() => m.start({ source: 'h', name: '../etc' })).toThrow(/not a valid image name/);
  });

  it('cancel ends it as cancelled with the reason; failures keep their code and one line', async () => {
    const f = fakeRun();
    const m = manager(f.run);
    const a = m.start({ source: 'h1', name: 'a' });
    expect(m.cancel(a.id)).toBe(true);
    await new Promise((r) => setTimeout(r, 10));
    expect(m.get(a.id)).toMatchObject({ state: 'cancelled', errorCode: 'CANCELLED', error: expect.stringMatching(/cancelled by request/) });
    expect(m.cancel(a.id)).toBe(false);
    const b = m.start({ source: 'h2', name: 'b' });
    f.fail(new ImgsrvError('SSH_AUTH', 'ssh to root@h2 refused the key', { hint: 'add the key' }));
    await new Promise((r) => setTimeout(r, 10));
    expect(m.get(b.id)).toMatchObject({ state: 'failed', errorCode: 'SSH_AUTH', error: 'ssh to root@h2 refused the key: add the key' });
    expect(() => m.get('cap-nope-000000')).toThrow(/no capture/);
  });

  it('passes a host key pin to the capture, shows the key it verified, and keeps it when the capture fails', async () => {
    const f = fakeRun();
    const m = manager(f.run);
    const fp = 'SHA256:UPIWSL6HFaB3w3ajSxR/+EOVd9NHf5pysmclpBFwCzY';
    const a = m.start({ source: 'h1', name: 'a', hostKey: fp });
    expect(f.jobs[0]!.hostKeyPin).toEqual({ kind: 'fingerprint', fingerprint: fp });
    expect(m.get(a.id).hostKey).toBeNull();
    f.jobs[0]!.onHostKey!({ fingerprint: fp, type: 'ED25519', trust: 'first-use' });
    expect(m.get(a.id).hostKey).toEqual({ fingerprint: fp, type: 'ED25519', trust: 'first-use' });
    expect(store.events.list().find((e) => e.kind === 'capture.hostkey')?.message).toContain(`${fp} (ED25519) accepted on first use`);
    f.fail(new ImgsrvError('NO_RSYNC', 'h1 has no rsync'));
    await new Promise((r) => setTimeout(r, 10));
    expect(m.get(a.id)).toMatchObject({ state: 'failed', hostKey: { fingerprint: fp } });
    const b = m.start({ source: 'h2', name: 'b', knownHosts: 'h2 ssh-ed25519 AAAA\n' });
    expect(f.jobs[1]!.hostKeyPin).toEqual({ kind: 'known-hosts', text: 'h2 ssh-ed25519 AAAA\n' });
    m.cancel(b.id);
    expect(() => m.start({ source: 'h3', hostKey: 'MD5:aa:bb' })).toThrow(/not an OpenSSH host key fingerprint/);
    expect(() => m.start({ source: 'h3', hostKey: fp, knownHosts: 'x' })).toThrow(/not both/);
    expect(() => m.start({ source: 'rsync://h3/root', hostKey: fp })).toThrow(/ssh sources only/);
  });

  it('shutdown cancels running captures and waits; a restart marks leftovers failed', async () => {
    const f = fakeRun();
    const m = manager(f.run);
    const a = m.start({ source: 'h1', name: 'a' });
    await m.shutdown();
    expect(m.get(a.id)).toMatchObject({ state: 'cancelled', error: expect.stringMatching(/server is stopping/) });
    expect(() => m.start({ source: 'h1', name: 'a' })).toThrow(/stopping/);
    // A server that died mid-capture left a 'running' row behind.
    m.repo.create({ id: 'cap-x-000001', name: 'z', source: 'root@h' });
    const again = manager(f.run);
    expect(again.get('cap-x-000001')).toMatchObject({ state: 'failed', error: expect.stringMatching(/server stopped/) });
  });
});
