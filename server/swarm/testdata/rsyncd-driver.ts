/**
 * Runs one RsyncDaemon inside a lab namespace for rsyncd.lab.test.ts: the
 * daemon must live in the namespace whose address it binds (its readiness
 * probe connects there), as it does inside `imgsrv serve`.
 *
 * argv[2]: JSON { stateDir, modules, address, port, rsyncPath? }. Reports JSON lines on
 * stdout ({ event: 'started', pid } or { event: 'error', code, message, hint });
 * reads commands on stdin: `status`, `stop`, `exit`. Logs (pino) on stderr.
 */
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { ImgsrvError } from '../../../core/errors.ts';
import { RsyncDaemon } from '../rsyncd.ts';

const opts = JSON.parse(process.argv[2] ?? '{}') as { stateDir: string; modules: { name: string; path: string }[]; address: string; port: number; rsyncPath?: string };
const registry = new Registry();
const daemon = new RsyncDaemon({ ...opts, logger: pino({ level: 'debug' }, pino.destination(2)), registry });
const say = (obj: object) => process.stdout.write(JSON.stringify(obj) + '\n');

try {
  await daemon.start();
  say({ event: 'started', pid: daemon.pid });
} catch (err) {
  const e = err instanceof ImgsrvError ? err : new ImgsrvError('INTERNAL', String(err));
  say({ event: 'error', code: e.code, message: e.message, hint: e.hint });
  process.exit(1);
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'status') {
    const metric = (await registry.getSingleMetric('imgsrv_rsyncd_restarts_total')?.get())?.values[0]?.value;
    say({ event: 'status', pid: daemon.pid, restarts: daemon.restarts, metric });
  } else if (line === 'stop') {
    await daemon.stop();
    say({ event: 'stopped', pid: daemon.pid });
  } else if (line === 'exit') {
    break;
  }
}
await daemon.stop();
