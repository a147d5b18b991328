#!/usr/bin/env node
/**
 * The node client, run by the netboot environment's /init once the NIC has
 * an address: ask the server for this node's plan, restore the image,
 * report every phase, and reboot into the restored disk (or, for a node
 * retired with wipe, erase its disk and power off). A failure is shown
 * on the console with the failing step and its output, reported to the
 * server, and the node then waits for an operator (it never reboots into a
 * half-written disk); a re-image request from the operator starts over.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { pino } from 'pino';
import { ImgsrvError } from '../../core/errors.ts';
import { VERSION } from '../../core/version.ts';
import type { Logger } from '../../core/log.ts';
import { StepError, createRunner, type Runner } from '../restore/run.ts';
import type { NodeApi } from '../swarm/node-api.ts';
import { createReporter, fetchPlan } from './api.ts';
import { readBootParams, type BootParams } from './boot-params.ts';
import { NodeConsole } from './console.ts';
import { refusedBeforeWriting, runDeployment } from './deploy.ts';
import { runWipe } from './wipe.ts';

const sleep = (sec: number): Promise<void> => new Promise((r) => setTimeout(r, sec * 1000));

/** The IPv4 address of the NIC with `mac` (the one /init configured). */
export function addressOf(mac: string, fallback?: string): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal && a.mac.toLowerCase() === mac) return a.address;
  }
  return fallback;
}

/** The failure text the console and the server get: step, command and its output when a command failed. */
export function describeFailure(err: unknown, what: 'restore' | 'wipe' = 'restore'): { title: string; body: string } {
  if (err instanceof StepError) {
    return { title: `${what} failed at step "${err.step}"`, body: `${err.message}\n$ ${err.argv.join(' ')}\n${err.output}` };
  }
  if (err instanceof ImgsrvError) return { title: `${what} failed: ${err.message}`, body: err.oneLine() };
  const e = err as Error;
  return { title: `${what} failed: ${e?.message ?? String(err)}`, body: e?.stack ?? String(err) };
}

async function reboot(runner: Runner, con: NodeConsole): Promise<never> {
  con.line('rebooting into the restored system');
  await runner.run('sync', ['sync']).catch(() => {});
  await runner.run('reboot', ['reboot', '-f']);
  await sleep(3600);
  throw new Error('reboot did not happen');
}

async function powerOff(runner: Runner, con: NodeConsole): Promise<never> {
  con.line('powering off');
  await runner.run('sync', ['sync']).catch(() => {});
  // busybox poweroff, as /init does: -f skips init (there is none to ask in the netboot environment)
  await runner.run('power off', ['poweroff', '-f']);
  await sleep(3600);
  throw new Error('power off did not happen');
}

async function run(params: BootParams, con: NodeConsole, log: Logger): Promise<void> {
  const runner = createRunner(log);
  const firmware = existsSync('/sys/firmware/efi') ? 'uefi' : 'bios';
  const ip = addressOf(params.mac, params.ip);
  if (!ip) throw new ImgsrvError('CONNECTION_LOST', `the NIC ${params.mac} has no IPv4 address`, { hint: 'DHCP did not configure the boot NIC; see the messages above' });
  const api: NodeApi = { server: params.server, token: params.token, mac: params.mac };
  const report = createReporter(api, log);
  const signal = new AbortController().signal;
  con.line(`node ${params.mac} (${firmware}) at ${ip}, server ${params.server}`);
  for (;;) {
    const plan = await fetchPlan(api, log, signal, (err, wait) => con.line(`server not answering (${err.message}); asking again in ${wait} s`));
    if (plan.action === 'local-boot') {
      con.line(plan.reason);
      return reboot(runner, con);
    }
    if (plan.action === 'wait') {
      con.line(`${plan.reason}; asking again in ${plan.retryAfterSec} s`);
      await report({ phase: 'booted', ip, firmware });
      await sleep(plan.retryAfterSec);
      continue;
    }
    const what = plan.action === 'wipe' ? 'wipe' : 'restore';
    try {
      if (plan.action === 'wipe') {
        await runWipe({ plan, runner, con, report, log });
        return await powerOff(runner, con);
      }
      await runDeployment({ plan, params, api, ip, firmware, con, report, runner, log, signal });
      await reboot(runner, con);
    } catch (err) {
      const f = describeFailure(err, what);
      log.error({ err }, `${what} failed`);
      con.alert(
        f.title,
        what === 'wipe'
          ? `${f.body}\n\nThe disk may not be fully erased. Fix the cause; the wipe is tried again in a while,\nor forget the node on the server: imgsrv nodes rm ${params.mac}`
          : `${f.body}\n\n${
              typeof err === 'object' && err !== null && refusedBeforeWriting.has(err)
                ? 'Nothing was written to the disk.'
                : 'The disk may be incomplete, so this node will not reboot into it.'
            }\nRetry from the server: imgsrv nodes reimage ${params.mac}`,
      );
      await report({ phase: 'failed', message: `${f.title}\n${f.body}` });
      // Wait for the operator: the server answers "restore" again once someone asks for a re-image
      // (and keeps answering "wipe" to a retired node, which then tries again).
      for (;;) {
        await sleep(15);
        const next = await fetchPlan(api, log, signal);
        if (next.action !== 'wait') break;
      }
      con.line(what === 'wipe' ? 'trying again' : 're-image requested; starting over');
    }
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--version')) {
    process.stdout.write(`imgsrv-client ${VERSION} (node ${process.version})\n`);
    return;
  }
  const con = new NodeConsole();
  let params: BootParams;
  try {
    params = readBootParams();
  } catch (err) {
    con.alert('cannot start', (err as ImgsrvError).oneLine?.() ?? String(err));
    process.exitCode = 2;
    return;
  }
  // Structured logs go to a file (the console is for people); imgsrv.debug also sends them to stderr.
  mkdirSync('/run/imgsrv', { recursive: true });
  const streams: pino.StreamEntry[] = [{ stream: pino.destination({ dest: '/run/imgsrv/client.log', sync: false }) }];
  if (params.debug) streams.push({ stream: pino.destination(2) });
  const log = pino({ level: params.debug ? 'debug' : 'info', base: { mac: params.mac } }, pino.multistream(streams));
  con.line(`imgsrv-client ${VERSION} starting`);
  try {
    await run(params, con, log);
  } catch (err) {
    const f = describeFailure(err);
    con.alert(f.title, f.body);
    process.exitCode = 1;
  }
}

if (import.meta.main) await main();
