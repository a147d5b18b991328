/**
 * Send raw datagrams (hex payloads) to HOST:PORT from inside a lab namespace:
 * `node send-udp.ts HOST PORT HEX [HEX…]`. Used to throw malformed packets
 * at a running server.
 */
import { createSocket } from 'node:dgram';

const [host, port, ...payloads] = process.argv.slice(2);
if (!host || !port || !payloads.length) {
  process.stderr.write('usage: send-udp.ts HOST PORT HEX [HEX…]\n');
  process.exit(2);
}
const sock = createSocket('udp4');
sock.bind(0, () => {
  sock.setBroadcast(true);
  let left = payloads.length;
  for (const hex of payloads) {
    sock.send(Buffer.from(hex, 'hex'), Number(port), host, (err) => {
      if (err) throw err;
      if (--left === 0) sock.close();
    });
  }
});
