/**
 * Patch: the seeder tells a new peer it has nothing, and the reveal policy
 * then shows it pieces one HAVE at a time (the server's seeder, super-seed
 * mode).
 *
 * What it changes: on a new wire, `wire.bitfield()` and `wire.haveAll()`
 * (BEP 6) send an all-zero bitfield whatever webtorrent passes, and a
 * microtask later the reveal policy is told the peer was announced to.
 *
 * Why: BEP 16-style super-seeding (torrent/reveal-policy.ts says why the
 * server needs it). webtorrent always announces every piece it has and has
 * no option not to: `_onWireWithMetadata`, which runs a microtask after the
 * 'wire' event, sends `haveAll()` (fast extension) or `bitfield(this.bitfield)`.
 * Both methods are bittorrent-protocol's public API; the private part is
 * when and how webtorrent calls them, so this must run in the 'wire' event.
 *
 * Private members: none named; relies on `_onWireWithMetadata`'s
 * announcement (haveAll / haveNone / bitfield) and its timing.
 */
import type { Wire } from 'webtorrent';

/** Announce an empty bitfield of `pieces` pieces on `wire` instead of webtorrent's, then call `afterAnnounce` (a microtask later). */
export function announceNothing(wire: Wire, pieces: number, afterAnnounce: () => void): void {
  const sendBitfield = wire.bitfield.bind(wire);
  const empty = new Uint8Array(Math.ceil(pieces / 8));
  // Whatever webtorrent would announce (bitfield or BEP 6 have-all), announce nothing; HAVEs follow.
  wire.bitfield = () => {
    sendBitfield(empty);
    queueMicrotask(afterAnnounce);
  };
  wire.haveAll = () => wire.bitfield(empty);
}
