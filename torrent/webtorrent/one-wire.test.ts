import { EventEmitter } from 'node:events';
import type { Torrent } from 'webtorrent';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isDuplicateWire, oneWirePerPeer, SETTLED_MS } from './one-wire.ts';

const hex = (s: string): string => Buffer.from(s.padEnd(20, '0')).toString('hex');
const ME = hex('-WW0300-me');
const LOW = hex('-IS0100-low'); // sorts below ME
const HIGH = hex('-WW0300-zz'); // sorts above ME

interface FakeWire extends EventEmitter {
  peerId: string;
  type: string;
  destroyed: boolean;
  destroy(): void;
}

function wire(peerId: string, type: 'tcpOutgoing' | 'tcpIncoming'): FakeWire {
  const w = new EventEmitter() as FakeWire;
  Object.assign(w, { peerId, type, destroyed: false });
  w.destroy = () => {
    w.destroyed = true;
    w.emit('close');
  };
  return w;
}

/** A torrent that records the addresses webtorrent would dial. */
function torrent() {
  const t = new EventEmitter() as unknown as Torrent & EventEmitter & { dialled: string[]; _addPeer(p: unknown, type: string, source: string): unknown };
  t.dialled = [];
  t._addPeer = (p: unknown) => {
    t.dialled.push(String(p));
    return {};
  };
  oneWirePerPeer(t, ME);
  return t;
}

describe('oneWirePerPeer', () => {
  afterEach(() => vi.useRealTimers());

  it('closes a connection to ourselves and never dials that address again', () => {
    const t = torrent();
    const out = wire(ME, 'tcpOutgoing');
    const back = wire(ME, 'tcpIncoming');
    t.emit('wire', out, '198.18.0.1:6881');
    t.emit('wire', back, '198.18.0.1:40000');
    expect(out.destroyed && back.destroyed).toBe(true);
    t._addPeer('198.18.0.1:6881', 'tcp', 'tracker');
    t._addPeer('198.18.0.2:6881', 'tcp', 'tracker');
    expect(t.dialled).toEqual(['198.18.0.2:6881']);
  });

  it('keeps the connection the larger peer id opened: ours to a smaller id', () => {
    vi.useFakeTimers();
    const t = torrent();
    const incoming = wire(LOW, 'tcpIncoming');
    const outgoing = wire(LOW, 'tcpOutgoing');
    t.emit('wire', incoming, '198.18.0.1:40000');
    t.emit('wire', outgoing, '198.18.0.1:6881');
    // We opened `outgoing` and our id is larger: it stays. The peer closes its own side of `incoming`;
    // if it never does, we cut it off.
    expect(outgoing.destroyed).toBe(false);
    expect(isDuplicateWire(incoming)).toBe(true);
    expect(incoming.destroyed).toBe(false);
    vi.advanceTimersByTime(5000);
    expect(incoming.destroyed).toBe(true);
    expect(isDuplicateWire(outgoing)).toBe(false);
  });

  it('closes our own connection to a larger peer id at once and stops redialling it while the other lives', () => {
    const t = torrent();
    const incoming = wire(HIGH, 'tcpIncoming');
    const outgoing = wire(HIGH, 'tcpOutgoing');
    t.emit('wire', incoming, '198.18.0.9:40000');
    t.emit('wire', outgoing, '198.18.0.9:6881');
    expect(outgoing.destroyed).toBe(true);
    expect(incoming.destroyed).toBe(false);
    t._addPeer('198.18.0.9:6881', 'tcp', 'reconnect');
    expect(t.dialled).toEqual([]);
    // Once the kept connection is gone, the peer may be dialled again.
    incoming.destroy();
    t._addPeer('198.18.0.9:6881', 'tcp', 'tracker');
    expect(t.dialled).toEqual(['198.18.0.9:6881']);
  });

  /** A connection to `peer` that has been up SETTLED_MS, then a second one the other way. */
  function settledThenLate(t: ReturnType<typeof torrent>, peer: string, first: 'tcpOutgoing' | 'tcpIncoming', firstAddr: string, lateAddr: string) {
    const settled = wire(peer, first);
    t.emit('wire', settled, firstAddr);
    vi.advanceTimersByTime(SETTLED_MS);
    const late = wire(peer, first === 'tcpIncoming' ? 'tcpOutgoing' : 'tcpIncoming');
    t.emit('wire', late, lateAddr);
    return { settled, late };
  }

  it('keeps a settled connection whoever opened it: our later dial to the same peer is closed at once', () => {
    vi.useFakeTimers();
    const t = torrent();
    // The peer with the smaller id dialled us first; after a re-announce we dial it too.
    const { settled, late } = settledThenLate(t, LOW, 'tcpIncoming', '198.18.0.1:40000', '198.18.0.1:6881');
    expect(late.destroyed).toBe(true);
    expect(settled.destroyed).toBe(false);
    expect(isDuplicateWire(settled)).toBe(false);
    t._addPeer('198.18.0.1:6881', 'tcp', 'tracker');
    expect(t.dialled).toEqual([]);
  });

  it("keeps a settled connection whoever opened it: the peer's later dial to us waits to be closed by the peer", () => {
    vi.useFakeTimers();
    const t = torrent();
    const { settled, late } = settledThenLate(t, HIGH, 'tcpOutgoing', '198.18.0.9:6881', '198.18.0.9:40000');
    expect(settled.destroyed).toBe(false);
    expect(isDuplicateWire(late)).toBe(true);
    vi.advanceTimersByTime(5000);
    expect(late.destroyed).toBe(true);
    expect(settled.destroyed).toBe(false);
  });
});
