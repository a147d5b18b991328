/**
 * Lab runner: start our TFTP server inside a namespace and print `READY <port>`.
 * Usage: node serve.ts --root DIR --address ADDR [--port N] [--timeout-ms N]
 *        [--max-block N] [--max-window N] [--max-transfers N]
 *        [--max-per-address N] [--max-timeout-s N] [--max-transfer-ms N]
 *        [--log-level L]. Ends on SIGTERM/SIGINT, printing
 *        `METRICS <json>` (its imgsrv_tftp_* samples) last.
 */
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { createRootLogger } from '../../core/log.ts';
import { startTftpServer } from '../../netboot/tftp/server.ts';

const { values } = parseArgs({
  options: {
    root: { type: 'string' },
    address: { type: 'string' },
    port: { type: 'string', default: '69' },
    'timeout-ms': { type: 'string', default: '1000' },
    'max-block': { type: 'string', default: '1468' },
    'max-window': { type: 'string', default: '32' },
    'max-transfers': { type: 'string' },
    'max-per-address': { type: 'string' },
    'max-timeout-s': { type: 'string' },
    'max-transfer-ms': { type: 'string' },
    'log-level': { type: 'string', default: 'warn' },
  },
});
if (!values.root || !values.address) {
  process.stderr.write('usage: serve.ts --root DIR --address ADDR\n');
  process.exit(2);
}
/** A numeric flag, or undefined (the server's default). */
const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
const logger = createRootLogger(values['log-level'] as 'warn');
const registry = new Registry();
const server = await startTftpServer({
  root: values.root,
  address: values.address,
  port: Number(values.port),
  timeoutMs: Number(values['timeout-ms']),
  maxBlockSize: Number(values['max-block']),
  maxWindowSize: Number(values['max-window']),
  maxTransfers: num(values['max-transfers']),
  maxTransfersPerAddress: num(values['max-per-address']),
  maxTimeoutSeconds: num(values['max-timeout-s']),
  maxTransferMs: num(values['max-transfer-ms']),
  logger,
  registry,
  onTransfer: (ev) => process.stdout.write(`TRANSFER ${JSON.stringify(ev)}\n`),
});
process.stdout.write(`READY ${server.port}\n`);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    void (async () => {
      const samples: Record<string, number> = {};
      for (const m of await registry.getMetricsAsJSON()) {
        for (const v of m.values) {
          const labels = Object.entries(v.labels).map(([k, x]) => `${k}="${x}"`).join(',');
          samples[labels ? `${m.name}{${labels}}` : m.name] = v.value;
        }
      }
      process.stdout.write(`METRICS ${JSON.stringify(samples)}\n`);
      await server.close();
      process.exit(0);
    })();
  });
}
