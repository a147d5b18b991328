/**
 * The DHCP service on the SQLite store as `imgsrv serve` wires it, over
 * loopback: requests come "through a relay" (giaddr 127.0.0.2) so every reply
 * is a unicast to it and nothing is broadcast. The promise under test: a
 * binding is committed before the ACK that announces it is handed to the
 * socket, and an OFFER writes no lease at all (offers are held in memory, so
 * a flood of DISCOVERs costs the disk nothing). A second connection to the
 * file sees only committed data, so reading the lease from it at the moment
 * of each send proves the order.
 */
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BOOTREQUEST, decode, emptyMessage, encode, type DhcpMessage } from '../../netboot/dhcp/codec.ts';
import { MessageType } from '../../netboot/dhcp/options.ts';
import { startDhcpServer, type DhcpServer, type DhcpServerOptions } from '../../netboot/dhcp/server.ts';
import { silentLogger } from '../../core/log.ts';
import { openStore, type Store } from './db.ts';
import { dhcpStoreOptions } from './dhcp-store.ts';

const SERVER = '127.0.0.1';
const RELAY = '127.0.0.2';
const CLIENTS = 24;
const mac = (i: number): string => `02:00:00:00:01:${i.toString(16).padStart(2, '0')}`;

interface Rig {
  store: Store;
  file: string;
  dhcp: DhcpServer;
  relay: dgram.Socket;
  replies: DhcpMessage[];
  send(m: DhcpMessage): void;
}

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const close of open.splice(0).reverse()) await close();
});

/** The server on 127.0.0.1:port and the relay socket on 127.0.0.2:port (replies go to giaddr:server-port). */
async function rig(extra: (store: Store) => Partial<DhcpServerOptions> = () => ({})): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'imgsrv-dhcp-store-'));
  const file = join(dir, 'imgsrv.db');
  const store = openStore(file);
  open.push(async () => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  for (let attempt = 0; ; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const relay = dgram.createSocket('udp4');
    try {
      await new Promise<void>((ok, fail) => {
        relay.once('error', fail);
        relay.bind(port, RELAY, () => ok());
      });
      const dhcp = await startDhcpServer({
        mode: 'full',
        serverAddress: SERVER,
        bindAddress: SERVER,
        bindToDevice: false,
        interfaceName: 'lo',
        subnet: { address: SERVER, prefix: 8 },
        range: { first: '127.1.0.10', last: '127.1.0.250' },
        leaseSeconds: 600,
        ...dhcpStoreOptions(store),
        boot: () => null,
        logger: silentLogger,
        ports: { server: port, client: port + 1, proxy: port + 2 },
        ...extra(store),
      });
      open.push(() => dhcp.close(), () => new Promise<void>((r) => relay.close(() => r())));
      const replies: DhcpMessage[] = [];
      relay.on('message', (b) => replies.push(decode(b)));
      return { store, file, dhcp, relay, replies, send: (m) => relay.send(encode(m), port, SERVER) };
    } catch (err) {
      // A port someone else holds: try another.
      try {
        relay.close();
      } catch {
        /* never bound */
      }
      if (attempt > 5) throw err;
    }
  }
}

function request(i: number, type: number, extra: DhcpMessage['options'] = {}): DhcpMessage {
  const m = emptyMessage(BOOTREQUEST, 0x1000 + i, mac(i));
  m.giaddr = RELAY;
  m.hops = 1;
  m.options = { messageType: type, ...extra };
  return m;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

describe('DHCP on the SQLite store (as imgsrv serve wires it)', () => {
  it('commits each binding before the ACK that announces it leaves, writes no lease for an OFFER, and records the nodes', async () => {
    const r = await rig();
    const reader = new DatabaseSync(r.file, { readOnly: true });
    open.push(async () => reader.close());
    const seen: Array<{ type: number | undefined; ip: string; inTransaction: boolean; row: { mac: string; state: string } | undefined }> = [];
    const realSend = dgram.Socket.prototype.send;
    vi.spyOn(dgram.Socket.prototype, 'send').mockImplementation(function (this: dgram.Socket, ...args: unknown[]) {
      const buf = args[0];
      if (Buffer.isBuffer(buf) && this !== r.relay) {
        const m = decode(buf);
        const row = reader.prepare('SELECT mac, state FROM leases WHERE ip = ?').get(m.yiaddr) as { mac: string; state: string } | undefined;
        seen.push({ type: m.options.messageType, ip: m.yiaddr, inTransaction: r.store.db.isTransaction, row: row && { mac: row.mac, state: row.state } });
      }
      return (realSend as (...a: unknown[]) => void).apply(this, args);
    } as typeof realSend);

    // All at once, so packets share batches (one commit each).
    for (let i = 0; i < CLIENTS; i++) r.send(request(i, MessageType.DISCOVER));
    await until(() => r.replies.length === CLIENTS, 'the OFFERs');
    const offers = new Map(r.replies.map((m) => [m.chaddr, m.yiaddr]));
    for (let i = 0; i < CLIENTS; i++) r.send(request(i, MessageType.REQUEST, { serverId: SERVER, requestedIp: offers.get(mac(i))! }));
    await until(() => r.replies.length === 2 * CLIENTS, 'the ACKs');

    expect(seen).toHaveLength(2 * CLIENTS);
    for (const s of seen) {
      expect(s.inTransaction).toBe(false);
      const holder = r.replies.find((m) => m.yiaddr === s.ip)?.chaddr;
      expect(s.row).toEqual(s.type === MessageType.ACK ? { mac: holder, state: 'bound' } : undefined);
    }
    expect(new Set(offers.values()).size).toBe(CLIENTS);
    expect(r.store.nodes.list().map((n) => n.mac)).toEqual(Array.from({ length: CLIENTS }, (_, i) => mac(i)));
    expect(r.store.events.list().filter((e) => e.kind === 'node.discovered')).toHaveLength(CLIENTS);
    expect(r.dhcp.stats['sent.DHCPACK']).toBe(CLIENTS);
  });

  it('sends nothing from a batch whose commit fails, and counts it', async () => {
    let fail = true;
    // The serve wiring with a commit that fails (a full disk, say) until told otherwise.
    const failing = await rig((store) => {
      const { transaction } = dhcpStoreOptions(store);
      return {
        transaction: (fn) =>
          transaction(() => {
            const out = fn();
            if (fail) throw new Error('disk full');
            return out;
          }),
      };
    });
    for (let i = 0; i < 4; i++) failing.send(request(i, MessageType.DISCOVER));
    await until(() => (failing.dhcp.stats['dropped.uncommitted'] ?? 0) === 4, 'the failed batch');
    expect(failing.replies).toEqual([]);
    expect(failing.store.nodes.list()).toEqual([]);
    // The clients retransmit; once the store takes writes again they are answered.
    fail = false;
    for (let i = 0; i < 4; i++) failing.send(request(i, MessageType.DISCOVER));
    await until(() => failing.replies.length === 4, 'the OFFERs after recovery');
    expect(failing.store.nodes.list()).toHaveLength(4);
    for (let i = 0; i < 4; i++) failing.send(request(i, MessageType.REQUEST, { serverId: SERVER, requestedIp: failing.replies[i]!.yiaddr }));
    await until(() => failing.replies.length === 8, 'the ACKs');
    expect(failing.store.leases.all()).toHaveLength(4);
  });

  it('a flood of DISCOVERs from invented MACs writes no lease row (issue 25)', async () => {
    const r = await rig();
    const flood = (i: number): DhcpMessage => {
      const m = request(i, MessageType.DISCOVER);
      m.chaddr = `02:66:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
      return m;
    };
    for (let i = 0; i < 400; i++) r.send(flood(i));
    await until(() => r.replies.length === 400, 'the OFFERs'); // 241 free addresses, then reclaimed ones
    expect(r.dhcp.stats['reclaimed']).toBe(400 - 241);
    expect(r.store.leases.all()).toEqual([]);
  });
});
