/**
 * Lab observer standing in for the TFTP and HTTP servers (written elsewhere):
 * logs each TFTP RRQ (RFC 1350 §5) on UDP 69 and each HTTP request line on
 * TCP 8080 as JSON lines, answering TFTP with an error and HTTP with 404.
 */
import dgram from 'node:dgram';
import net from 'node:net';

const address = process.argv[2] ?? '0.0.0.0';
const print = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const udp = dgram.createSocket('udp4');
udp.on('message', (b, r) => {
  if (b.readUInt16BE(0) !== 1) return;
  const [file, mode] = b.subarray(2).toString('latin1').split('\0');
  print({ rrq: file, mode, from: r.address });
  // ERROR packet, code 1 "File not found": the client moves on instead of retrying.
  udp.send(Buffer.concat([Buffer.from([0, 5, 0, 1]), Buffer.from('observer only\0')]), r.port, r.address);
});
const http = net.createServer((s) => {
  s.once('data', (d) => {
    print({ http: d.toString('latin1').split('\r\n')[0], from: s.remoteAddress });
    s.end('HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n');
  });
  s.on('error', () => undefined);
});
await new Promise<void>((r) => udp.bind(69, address, r));
await new Promise<void>((r) => http.listen(8080, address, r));
print({ ready: true });
process.once('SIGTERM', () => process.exit(0));
