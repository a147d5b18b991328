/**
 * Lab runner: a flood of TFTP read requests that never acknowledge anything,
 * as a burst of forged or broken clients would send (issue 25). Binds
 * `--endpoints` UDP sockets spread over the `--sources` addresses (each
 * socket is a distinct client endpoint, so a server cannot take a resend for
 * a retry), then sends one RRQ from every endpoint per wave, as fast as it
 * can, a wave every `--wave-ms`, for `--seconds`. Replies are counted, never
 * answered. Prints `BOUND <n>` once bound, `FLOODING` when the first wave
 * starts, and `FLOOD <json>` at the end.
 * Usage: node flood.ts --server ADDR --file NAME --sources A,B,… [--endpoints 12000]
 *        [--seconds 6] [--wave-ms 1000] [--option name=value …]
 */
import { createSocket, type Socket } from 'node:dgram';
import { parseArgs } from 'node:util';
import { OPCODES, encode } from '../../netboot/tftp/codec.ts';

const { values } = parseArgs({
  options: {
    server: { type: 'string' },
    port: { type: 'string', default: '69' },
    file: { type: 'string' },
    sources: { type: 'string' },
    endpoints: { type: 'string', default: '12000' },
    seconds: { type: 'string', default: '6' },
    'wave-ms': { type: 'string', default: '1000' },
    option: { type: 'string', multiple: true, default: ['timeout=255'] },
  },
});
if (!values.server || !values.file || !values.sources) {
  process.stderr.write('usage: flood.ts --server ADDR --file NAME --sources A,B,…\n');
  process.exit(2);
}
const server = values.server;
const port = Number(values.port);
const sources = values.sources.split(',');
const options = Object.fromEntries(values.option.map((o) => o.split('=', 2) as [string, string]));
const rrq = encode({ type: 'RRQ', filename: values.file, mode: 'octet', options });

/** Replies by opcode, and how many endpoints got at least one ERROR. */
const replies = { OACK: 0, DATA: 0, ERROR: 0, other: 0 };
const errored = new Set<Socket>();
const errorMessages = new Map<string, number>();
let sendErrors = 0;

const sockets: Socket[] = [];
const n = Number(values.endpoints);
await Promise.all(
  Array.from({ length: n }, (_, i) => {
    const s = createSocket('udp4');
    sockets.push(s);
    s.on('error', () => sendErrors++);
    s.on('message', (msg) => {
      const op = msg.length >= 2 ? msg.readUInt16BE(0) : 0;
      if (op === OPCODES.OACK) replies.OACK++;
      else if (op === OPCODES.DATA) replies.DATA++;
      else if (op === OPCODES.ERROR) {
        replies.ERROR++;
        errored.add(s);
        const text = msg.subarray(4, msg.indexOf(0, 4) === -1 ? undefined : msg.indexOf(0, 4)).toString('latin1');
        errorMessages.set(text, (errorMessages.get(text) ?? 0) + 1);
      } else replies.other++;
    });
    return new Promise<void>((resolve) => s.bind(0, sources[i % sources.length], () => resolve()));
  }),
);
process.stdout.write(`BOUND ${sockets.length}\n`);

const started = performance.now();
const end = started + Number(values.seconds) * 1000;
let sent = 0;
let waves = 0;
let firstWaveMs = 0;
process.stdout.write('FLOODING\n');
while (performance.now() < end) {
  const waveStart = performance.now();
  for (const s of sockets) {
    s.send(rrq, port, server);
    sent++;
    // Let the event loop hand queued datagrams to the kernel now and then.
    if (sent % 500 === 0) await new Promise((r) => setImmediate(r));
  }
  waves++;
  if (waves === 1) firstWaveMs = Math.round(performance.now() - waveStart);
  const next = waveStart + Number(values['wave-ms']);
  if (next >= end) break;
  await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
}
// Replies still in flight.
await new Promise((r) => setTimeout(r, 500));
const result = {
  endpoints: sockets.length,
  sources: sources.length,
  sent,
  waves,
  firstWaveMs,
  ms: Math.round(performance.now() - started),
  replies,
  endpointsWithError: errored.size,
  errorMessages: Object.fromEntries(errorMessages),
  sendErrors,
};
for (const s of sockets) s.close();
process.stdout.write(`FLOOD ${JSON.stringify(result)}\n`);
