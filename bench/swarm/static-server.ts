/**
 * The plainest unicast baseline: node:http serving one file to every GET,
 * streamed from disk. Run inside the server's namespace:
 * `node bench/swarm/static-server.ts <address> <port> <file>`; prints
 * "listening" when ready.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { pipeline } from 'node:stream/promises';

const [address, port, file] = process.argv.slice(2);
if (!address || !port || !file) {
  process.stderr.write('usage: static-server.ts ADDRESS PORT FILE\n');
  process.exit(2);
}
const size = statSync(file).size;
const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
  if (req.method === 'HEAD') return res.end();
  pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), res).catch(() => res.destroy());
});
server.listen(Number(port), address, () => process.stdout.write('listening\n'));
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
