/**
 * Power actions on nodes, each recorded as an event with the BMC's answer,
 * and the one-click re-image: mark the node for install, power it off, set
 * a one-time network boot, power it on, and wait for the netboot
 * environment's report; once more if none comes, then a clear failure.
 * MAAS learnt the order the hard way: a BMC may drop a boot override made
 * while the machine runs, and some refuse "cycle" when it is off.
 */
import { ImgsrvError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { NodePhase } from '../../contract/report.ts';
import type { Store } from '../store/db.ts';
import type { BmcCredentialStore } from './credentials.ts';
import type { BmcCredentials, BootDevice, PowerAction, PowerAnswer, PowerDriver, PowerState } from './driver.ts';

/** Phases that prove a node network-booted into imgsrv's environment after the power-on. */
const NETBOOTED: ReadonlySet<NodePhase> = new Set(['booted', 'downloading', 'restoring', 'personalising', 'seeding', 'failed', 'retired']);

/** One re-image-now run as the API shows it. */
export interface ReimageJob {
  mac: string;
  state: 'running' | 'booted' | 'failed';
  /** Power sequences run so far (at most 2). */
  attempt: number;
  startedAt: number;
  endedAt: number | null;
  /** The phase that confirmed the boot, or why it failed. */
  message: string;
  steps: Array<{ at: number; step: string; answer: string }>;
}

/** Options of the power service. */
export interface PowerServiceOptions {
  store: Store;
  credentials: BmcCredentialStore;
  driver: PowerDriver;
  log: Logger;
  /** Mark the node for a (re)install at its next network boot (deploy/plan.ts requestReimage). */
  markForReimage: (mac: string, image?: string | null) => void;
  /** How long a powered-off state may take to show, ms. */
  offTimeoutMs?: number;
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** Power actions and re-image-now jobs. */
export class PowerService {
  private readonly o: Required<PowerServiceOptions>;
  private readonly jobs = new Map<string, ReimageJob>();
  private readonly waiters = new Map<string, { since: number; resolve: (phase: NodePhase) => void }>();

  constructor(opts: PowerServiceOptions) {
    this.o = { offTimeoutMs: 30_000, pollMs: 1000, sleep: (ms) => new Promise((r) => setTimeout(r, ms)), ...opts };
  }

  /** Run one driver call for node `mac`, recording its answer (or its error) as a `node.power` event. */
  private async record(mac: string, what: string, call: (d: PowerDriver, c: BmcCredentials) => Promise<PowerAnswer>): Promise<PowerAnswer> {
    const creds = this.o.credentials.credentials(mac);
    try {
      const a = await call(this.o.driver, creds);
      this.o.store.events.add('node.power', `${what}: ${a.answer}`, { mac, data: { action: what, state: a.state, answer: a.answer, attempts: a.attempts, bmc: creds.address } });
      this.o.log.info({ mac, action: what, state: a.state, attempts: a.attempts }, 'power action');
      return a;
    } catch (err) {
      const msg = err instanceof ImgsrvError ? err.message : String(err);
      this.o.store.events.add('node.power.failed', `${what} failed: ${msg}`, { mac, data: { action: what, error: err instanceof ImgsrvError ? err.code : 'INTERNAL', bmc: creds.address } });
      this.o.log.warn({ mac, action: what, err: msg }, 'power action failed');
      throw err;
    }
  }

  status(mac: string): Promise<PowerAnswer> {
    return this.record(mac, 'status', (d, c) => d.status(c));
  }

  power(mac: string, action: PowerAction): Promise<PowerAnswer> {
    return this.record(mac, action, (d, c) => d.power(c, action));
  }

  bootOnce(mac: string, device: BootDevice): Promise<PowerAnswer> {
    return this.record(mac, `boot-once ${device}`, (d, c) => d.bootOnce(c, device));
  }

  /** A node reported `phase` (the report route calls this): it may end a re-image-now wait. */
  noteReport(mac: string, phase: NodePhase | undefined, at = Date.now()): void {
    const w = this.waiters.get(mac);
    if (w && phase && NETBOOTED.has(phase) && at >= w.since) w.resolve(phase);
  }

  job(mac: string): ReimageJob | undefined {
    return this.jobs.get(mac);
  }

  /**
   * Start a re-image-now of `mac` (checks its BMC login first, so a missing
   * one is an immediate error); the job runs on and is read with `job(mac)`.
   */
  startReimage(mac: string, opts: { timeoutMs: number; image?: string | null | undefined }): ReimageJob {
    const running = this.jobs.get(mac);
    if (running?.state === 'running') throw new ImgsrvError('CONFLICT', `a re-image of ${mac} is already running`, { hint: `watch it: \`imgsrv nodes reimage ${mac} --now\` again after it ends` });
    this.o.credentials.credentials(mac);
    this.o.markForReimage(mac, opts.image);
    const job: ReimageJob = { mac, state: 'running', attempt: 0, startedAt: Date.now(), endedAt: null, message: 'powering off', steps: [] };
    this.jobs.set(mac, job);
    void this.runReimage(job, opts.timeoutMs);
    return job;
  }

  private async runReimage(job: ReimageJob, timeoutMs: number): Promise<void> {
    const step = (s: string, a: PowerAnswer | string) => job.steps.push({ at: Date.now(), step: s, answer: typeof a === 'string' ? a : a.answer });
    try {
      for (let attempt = 1; attempt <= 2; attempt++) {
        job.attempt = attempt;
        job.message = `power sequence ${job.attempt} of 2`;
        if ((await this.status(job.mac)).state === 'on') {
          step('off', await this.power(job.mac, 'off'));
          await this.waitFor(job.mac, 'off');
        }
        step('boot-once pxe', await this.bootOnce(job.mac, 'pxe'));
        const since = Date.now();
        const booted = this.waitBoot(job.mac, since, timeoutMs);
        step('on', await this.power(job.mac, 'on'));
        job.message = `waiting up to ${Math.round(timeoutMs / 1000)} s for the node to network-boot (sequence ${job.attempt} of 2)`;
        const phase = await booted;
        if (phase) {
          job.state = 'booted';
          job.message = `network-booted: reported ${phase} ${Math.round((Date.now() - since) / 1000)} s after power-on`;
          this.o.store.events.add('node.reimage.booted', job.message, { mac: job.mac });
          return;
        }
        step('timeout', `no report within ${Math.round(timeoutMs / 1000)} s`);
      }
      throw new ImgsrvError('BMC_FAILED', `node ${job.mac} did not network-boot after 2 power cycles of ${Math.round(timeoutMs / 1000)} s each`, {
        hint: 'check its console: PXE enabled on the NIC and first in the boot order, the BMC honouring one-time boot overrides',
      });
    } catch (err) {
      job.state = 'failed';
      job.message = err instanceof ImgsrvError ? err.oneLine() : String(err);
      this.o.store.events.add('node.reimage.failed', job.message, { mac: job.mac });
    } finally {
      job.endedAt = Date.now();
      this.waiters.delete(job.mac);
    }
  }

  /** Poll the BMC until it reports `state`; throws after the off timeout. */
  private async waitFor(mac: string, state: PowerState): Promise<void> {
    const end = Date.now() + this.o.offTimeoutMs;
    while (Date.now() < end) {
      await this.o.sleep(this.o.pollMs);
      if ((await this.o.driver.status(this.o.credentials.credentials(mac))).state === state) return;
    }
    throw new ImgsrvError('BMC_FAILED', `BMC of ${mac} still reports power not ${state} after ${this.o.offTimeoutMs / 1000} s`, { hint: 'check the machine; power it off by hand if it hangs' });
  }

  /** Resolves with the phase of the node's first netboot report after `since`, or undefined at the timeout. */
  private waitBoot(mac: string, since: number, timeoutMs: number): Promise<NodePhase | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const done = (p: NodePhase | undefined) => {
        clearTimeout(timer);
        this.waiters.delete(mac);
        resolve(p);
      };
      this.waiters.set(mac, { since, resolve: done });
    });
  }
}
