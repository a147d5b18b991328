/**
 * Patch: incoming block requests go through the upload policy before
 * webtorrent answers them (the server's seeder).
 *
 * What it changes: a wire's `_onRequest` (bittorrent-protocol's handler of
 * an incoming REQUEST message) hands the request to a gate (the upload
 * policy, torrent/upload-policy.ts); the gate later calls the original
 * handler, which emits the public 'request' event webtorrent answers from
 * its store (`_onWireWithMetadata`).
 *
 * Why: the server's link is the scarce resource of a deployment; the policy
 * caps it and sends the rarest pieces first. webtorrent answers requests in
 * arrival order as soon as they come, and the public 'request' event offers
 * no way to hold one back: its listener reads the store at once. So we
 * interpose one step earlier, per wire. A CANCEL for a request still in the
 * gate never reaches bittorrent-protocol's `peerRequests`; the gate drops it
 * on the public 'cancel' event.
 *
 * Private members: Wire `_onRequest` (bittorrent-protocol index.js; it also
 * applies BEP 6's reject-when-choking, which therefore happens when the gate
 * releases the request, not when it arrives).
 */
import type { Wire } from 'webtorrent';
import { internalWire } from './internals.ts';

/** Answers one incoming request: webtorrent's own handling (store read, PIECE sent). */
export type ServeRequest = (index: number, offset: number, length: number) => void;

/** What holds incoming requests back (UploadPolicy). */
export interface RequestGate {
  /** A new wire: `serve` answers one of its requests. */
  attach(wire: Wire, serve: ServeRequest): void;
  /** A REQUEST arrived on an attached wire. */
  onRequest(wire: Wire, index: number, offset: number, length: number): void;
}

const gated = new WeakSet<Wire>();

/** Route `wire`'s incoming requests through `gate` (once per wire). */
export function gateRequests(wire: Wire, gate: RequestGate): void {
  if (gated.has(wire)) return;
  gated.add(wire);
  const w = internalWire(wire);
  gate.attach(wire, w._onRequest.bind(w));
  w._onRequest = (index, offset, length) => gate.onRequest(wire, index, offset, length);
}
