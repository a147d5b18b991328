/**
 * Lab runner: starts our DHCP server inside a namespace from a JSON config
 * (argv[2]), prints `{"ready":true}` once listening, then one JSON line per
 * client event. With `captureDir` it also saves every packet that reaches
 * port 67 as `<n>-<mac>-<type>.hex` (the fixture capture uses this).
 * Stops cleanly on SIGTERM.
 */
import dgram from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { selectBoot, type BootPolicy } from '../../netboot/boot/select.ts';
import { decode } from '../../netboot/dhcp/codec.ts';
import { MemoryLeaseStore, type Reservation } from '../../netboot/dhcp/leases.ts';
import { messageTypeName } from '../../netboot/dhcp/options.ts';
import { startDhcpServer, type DhcpServerOptions } from '../../netboot/dhcp/server.ts';
import { JsonLeaseStore } from './json-lease-store.ts';

/** The runner's JSON config. */
export interface RunnerConfig {
  mode: 'full' | 'proxy';
  serverAddress: string;
  subnet: DhcpServerOptions['subnet'];
  range?: { first: string; last: string };
  leaseSeconds?: number;
  leaseFile?: string;
  reservations?: Reservation[];
  captureDir?: string;
  policy?: Partial<BootPolicy>;
  /** pino level for the server's log on stderr (default debug). */
  logLevel?: string;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as RunnerConfig;
const policy: BootPolicy = {
  httpBase: `http://${cfg.serverAddress}:8080`,
  tftpServer: cfg.serverAddress,
  biosLoader: 'ipxe',
  uefiLoader: 'ipxe.efi',
  ...cfg.policy,
};
const leases = cfg.leaseFile ? new JsonLeaseStore(cfg.leaseFile, cfg.reservations) : new MemoryLeaseStore(cfg.reservations);
const print = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

let capture: dgram.Socket | undefined;
if (cfg.captureDir) {
  const dir = cfg.captureDir;
  mkdirSync(dir, { recursive: true });
  let n = 0;
  // A second wildcard socket on 67 (SO_REUSEADDR): Linux hands every broadcast to both.
  capture = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  capture.on('message', (buf) => {
    let name = 'undecodable';
    try {
      const m = decode(buf);
      name = `${m.chaddr.replace(/:/g, '')}-${messageTypeName(m.options.messageType)}`;
    } catch {
      /* keep the bytes anyway */
    }
    const file = join(dir, `${String(n++).padStart(3, '0')}-${name}.hex`);
    writeFileSync(file, buf.toString('hex') + '\n');
    print({ captured: file });
  });
  await new Promise<void>((resolve) => capture!.bind(67, '0.0.0.0', resolve));
}

const server = await startDhcpServer({
  mode: cfg.mode,
  serverAddress: cfg.serverAddress,
  interfaceName: 'eth0',
  subnet: cfg.subnet,
  range: cfg.range,
  leaseSeconds: cfg.leaseSeconds ?? 600,
  leases,
  boot: (c) => selectBoot(c, policy),
  onClient: (ev) => print({ event: ev }),
  logger: pino({ level: cfg.logLevel ?? 'debug' }, pino.destination(2)),
});
print({ ready: true });

process.once('SIGTERM', () => {
  print({ stats: server.stats });
  capture?.close();
  void server.close().then(() => process.exit(0));
});
