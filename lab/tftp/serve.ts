/**
 * Lab runner: start our TFTP server inside a namespace and print `READY <port>`.
 * Usage: node serve.ts --root DIR --address ADDR [--port N] [--timeout-ms N]
 *        [--max-block N] [--max-window N]. Ends on SIGTERM/SIGINT.
 */
import { parseArgs } from 'node:util';
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
    'log-level': { type: 'string', default: 'warn' },
  },
});
if (!values.root || !values.address) {
  process.stderr.write('usage: serve.ts --root DIR --address ADDR\n');
  process.exit(2);
}
const logger = createRootLogger(values['log-level'] as 'warn');
const server = await startTftpServer({
  root: values.root,
  address: values.address,
  port: Number(values.port),
  timeoutMs: Number(values['timeout-ms']),
  maxBlockSize: Number(values['max-block']),
  maxWindowSize: Number(values['max-window']),
  logger,
  onTransfer: (ev) => process.stdout.write(`TRANSFER ${JSON.stringify(ev)}\n`),
});
process.stdout.write(`READY ${server.port}\n`);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => void server.close().then(() => process.exit(0)));
}
