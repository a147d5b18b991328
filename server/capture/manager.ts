/**
 * Captures run inside the server process, so the CLI and the console see and
 * steer the same ones. The manager starts them, keeps their live progress,
 * records how each ended (with the reason), logs events for the console,
 * cancels on request, and on shutdown cancels and waits, so a SIGTERM
 * leaves no half-published version.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ImgsrvError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { Store } from '../store/db.ts';
import type { ImageStore } from '../images/store.ts';
import { CaptureRepo, type CapturePhase, type CaptureRecord } from './records.ts';
import { runCapture, type CaptureJob, type CaptureProgress, type CaptureSettings } from './run.ts';
import { sweepTrustDirs } from './host-trust.ts';
import { validateImageName } from '../../images/names.ts';
import { defaultImageName, describeSource, parseSource } from './source.ts';
import { parseFingerprint, type HostKeyInfo, type HostKeyPin } from './host-key.ts';

/** What a client asks for (POST /api/v1/captures). */
export interface CaptureRequest {
  source: string;
  name?: string | undefined;
  user?: string | undefined;
  port?: number | undefined;
  /** Private key file on the server. */
  identity?: string | undefined;
  /** Pin the host's ssh key by its fingerprint (SHA256:…). */
  hostKey?: string | undefined;
  /** Pin the host's ssh key by known_hosts text (the lines for this host are used). */
  knownHosts?: string | undefined;
}

/** A capture record plus its live progress and a change counter for long-polling. */
export interface CaptureView extends CaptureRecord {
  progress: CaptureProgress | null;
  seq: number;
  /** The ssh host key, once verified: shown by the CLI, pinned or accepted on first use. */
  hostKey: HostKeyInfo | null;
}

interface Live {
  controller: AbortController;
  progress: CaptureProgress | null;
  hostKey: HostKeyInfo | null;
  done: Promise<void>;
}

/** Options for the manager; `run` is injectable for tests. */
export interface CaptureManagerOptions {
  store: Store;
  images: ImageStore;
  dataDir: string;
  settings: CaptureSettings & { user: string; port: number; identity?: string | undefined };
  logger: Logger;
  run?: (job: CaptureJob) => ReturnType<typeof runCapture>;
  /** Minimum interval between progress events in the event log. */
  eventIntervalMs?: number;
}

/** Starts, tracks and cancels captures. */
export class CaptureManager {
  readonly repo: CaptureRepo;
  private readonly live = new Map<string, Live>();
  private readonly seq = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly o: CaptureManagerOptions;
  private readonly log: Logger;
  private stopping = false;

  constructor(o: CaptureManagerOptions) {
    this.o = o;
    this.log = o.logger.child({ subsystem: 'capture' });
    this.repo = new CaptureRepo(o.store.db);
    const n = this.repo.failInterrupted();
    if (n) this.log.warn({ count: n }, 'captures interrupted by the previous server stop marked failed');
    // Per-capture known_hosts dirs (host-trust.ts) a killed server left behind.
    sweepTrustDirs(join(o.dataDir, 'ssh'));
  }

  /** Validate a request and start the capture in the background; returns its record at once. */
  start(req: CaptureRequest): CaptureRecord {
    if (this.stopping) throw new ImgsrvError('CONFLICT', 'the server is stopping', { hint: 'capture again once it is back' });
    const source = parseSource(req.source, {
      user: req.user ?? this.o.settings.user,
      port: req.port ?? this.o.settings.port,
      identity: req.identity ?? this.o.settings.identity,
    });
    const name = validateImageName(req.name ?? defaultImageName(source));
    const hostKeyPin = pinOf(req, source.kind);
    for (const id of this.live.keys()) {
      if (this.repo.get(id)?.name === name) {
        throw new ImgsrvError('CONFLICT', `a capture of ${name} is already running (${id})`, { hint: 'wait for it, or cancel it with Ctrl-C in its `imgsrv capture`' });
      }
    }
    const id = `cap-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const record = this.repo.create({ id, name, source: describeSource(source) });
    const controller = new AbortController();
    const log = this.log.child({ capture: id, image: name });
    const entry: Live = { controller, progress: null, hostKey: null, done: Promise.resolve() };
    this.live.set(id, entry);
    this.o.store.events.add('capture.started', `capture of ${record.source} as ${name} started`, { data: { captureId: id, name, source: record.source } });
    log.info({ source: record.source }, 'capture started');

    let lastEvent = 0;
    const interval = this.o.eventIntervalMs ?? 1000;
    const run = this.o.run ?? runCapture;
    entry.done = run({
      name,
      source,
      dataDir: this.o.dataDir,
      images: this.o.images,
      settings: this.o.settings,
      logger: log,
      signal: controller.signal,
      hostKeyPin,
      onHostKey: (k) => {
        entry.hostKey = k;
        const how = k.trust === 'first-use' ? 'accepted on first use' : k.trust === 'pinned' ? 'matches the pin' : 'matches the key of earlier captures';
        const msg = `capture ${id}: ssh host key of ${record.source} ${k.fingerprint} (${k.type}) ${how}`;
        this.o.store.events.add('capture.hostkey', msg, { data: { captureId: id, name, ...k } });
        // Trust on first use is the one case an operator should check by hand.
        if (k.trust === 'first-use') log.warn({ hostKey: k.fingerprint, keyType: k.type }, `accepted the ssh host key of ${record.source} on first use: ${k.fingerprint} (${k.type})`);
        else log.info({ hostKey: k.fingerprint, keyType: k.type, trust: k.trust }, 'ssh host key verified');
        this.bump(id);
      },
      onPhase: (phase: CapturePhase) => {
        this.repo.setPhase(id, phase);
        entry.progress = null;
        this.o.store.events.add('capture.phase', `capture ${id}: ${phase}`, { data: { captureId: id, name, phase } });
        this.bump(id);
      },
      onProgress: (p) => {
        entry.progress = p;
        const now = Date.now();
        if (now - lastEvent >= interval) {
          lastEvent = now;
          this.o.store.events.add('capture.progress', `capture ${id}: ${p.phase} ${p.bytes} bytes`, { data: { captureId: id, name, ...p } });
        }
        this.bump(id);
      },
    })
      .then(({ meta, stats }) => {
        this.repo.finish(id, { state: 'done', version: meta.version, stats });
        this.o.store.events.add('capture.done', `captured ${record.source} as ${name}@${meta.version}`, { data: { captureId: id, name, version: meta.version, stats } });
        log.info({ version: meta.version, stats }, 'capture done');
      })
      .catch((err: unknown) => {
        const e = err instanceof ImgsrvError ? err : new ImgsrvError('CAPTURE_FAILED', `capture failed: ${(err as Error)?.message ?? String(err)}`, { hint: 'see the server log', cause: err });
        const state = e.code === 'CANCELLED' ? 'cancelled' : 'failed';
        this.repo.finish(id, { state, errorCode: e.code, error: e.oneLine(), ...(entry.hostKey ? { stats: { hostKey: entry.hostKey } } : {}) });
        this.o.store.events.add(`capture.${state}`, `capture of ${record.source} as ${name} ${state}: ${e.oneLine()}`, { data: { captureId: id, name, code: e.code } });
        if (state === 'failed') log.warn({ err: e.cause ?? e, code: e.code }, `capture failed: ${e.oneLine()}`);
        else log.info({ reason: e.message }, 'capture cancelled');
      })
      .finally(() => {
        this.live.delete(id);
        this.bump(id);
      });
    return record;
  }

  /** A capture with its live progress; NOT_FOUND for an unknown id. */
  get(id: string): CaptureView {
    const r = this.repo.get(id);
    if (!r) throw new ImgsrvError('NOT_FOUND', `no capture ${id}`, { hint: 'see GET /api/v1/captures' });
    return this.view(r);
  }

  /** Recent captures, newest first. */
  list(): CaptureView[] {
    return this.repo.list().map((r) => this.view(r));
  }

  private view(r: CaptureRecord): CaptureView {
    const live = this.live.get(r.id);
    const recorded = (r.stats as { hostKey?: HostKeyInfo } | null)?.hostKey ?? null;
    return { ...r, progress: live?.progress ?? null, seq: this.seq.get(r.id) ?? 0, hostKey: live?.hostKey ?? recorded };
  }

  /** Wait until the capture changes past `seq` (or `ms` pass), then return it: long-polling for the CLI and console. */
  async waitForChange(id: string, seq: number, ms: number): Promise<CaptureView> {
    const now = this.get(id);
    if (now.seq !== seq || !this.live.has(id)) return now;
    await new Promise<void>((resolve) => {
      const set = this.waiters.get(id) ?? new Set();
      this.waiters.set(id, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
    return this.get(id);
  }

  /** Ask a running capture to stop; it ends 'cancelled' with `reason`. Returns false if it had already ended. */
  cancel(id: string, reason = 'capture cancelled by request'): boolean {
    this.get(id);
    const l = this.live.get(id);
    if (!l) return false;
    l.controller.abort(new ImgsrvError('CANCELLED', reason, { hint: 'nothing was published; capture again when ready' }));
    return true;
  }

  /** Cancel every running capture and wait for each to clean up (server SIGTERM). */
  async shutdown(): Promise<void> {
    this.stopping = true;
    const all = [...this.live.entries()];
    for (const [id] of all) this.cancel(id, 'capture cancelled: the server is stopping');
    await Promise.all(all.map(([, l]) => l.done));
  }

  private bump(id: string): void {
    this.seq.set(id, (this.seq.get(id) ?? 0) + 1);
    for (const w of [...(this.waiters.get(id) ?? [])]) w();
  }
}

/** The request's host key pin, validated: one of fingerprint or known_hosts, for ssh sources only. */
function pinOf(req: CaptureRequest, kind: 'ssh' | 'rsyncd'): HostKeyPin | undefined {
  if (req.hostKey === undefined && req.knownHosts === undefined) return undefined;
  if (kind !== 'ssh') throw new ImgsrvError('BAD_USAGE', 'a host key pin applies to ssh sources only', { hint: 'drop --host-key / --known-hosts for rsync:// sources (an rsync daemon has no host key)' });
  if (req.hostKey !== undefined && req.knownHosts !== undefined) throw new ImgsrvError('BAD_USAGE', 'give --host-key or --known-hosts, not both', { hint: 'pin the key one way' });
  if (req.hostKey !== undefined) return { kind: 'fingerprint', fingerprint: parseFingerprint(req.hostKey) };
  const text = req.knownHosts!;
  if (!text.trim() || text.includes('\0')) throw new ImgsrvError('BAD_USAGE', 'the known_hosts file is empty or not text', { hint: 'give a known_hosts file with a line for the host' });
  return { kind: 'known-hosts', text };
}
