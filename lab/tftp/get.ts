/**
 * Lab runner: fetch one file with our own client (the only one here that
 * sends RFC 7440 windowsize) and print `{ sha256, size, oack }` as JSON.
 * Usage: node get.ts ADDRESS FILE [name=value ...]   (request options)
 */
import { createHash } from 'node:crypto';
import { tftpGet } from '../../netboot/tftp/client.ts';

const [address, file, ...opts] = process.argv.slice(2);
if (!address || !file) {
  process.stderr.write('usage: get.ts ADDRESS FILE [name=value ...]\n');
  process.exit(2);
}
const options = Object.fromEntries(opts.map((o) => o.split('=', 2) as [string, string]));
const hash = createHash('sha256');
const started = performance.now();
const r = await tftpGet({ address, file, options, timeoutMs: 300, sink: (c) => hash.update(c) });
const ms = performance.now() - started;
process.stdout.write(`${JSON.stringify({ sha256: hash.digest('hex'), size: r.size, oack: r.oack, ms: Math.round(ms) })}\n`);
