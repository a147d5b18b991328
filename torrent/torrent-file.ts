/**
 * A `.torrent` for one image version: the info dictionary written at pack
 * time, wrapped with the announce URL of our tracker and the BEP 19 web seed
 * (`url-list`) of our HTTP server. The info bytes are embedded verbatim, so
 * the info hash is the one computed at pack time whatever the server's
 * address is today.
 */
import bencode from 'bencode';

/** Where the torrent points its clients. */
export interface TorrentUrls {
  announce: string;
  webSeed: string;
}

const enc = (v: unknown): Buffer => Buffer.from(bencode.encode(v));

/** Bencode a metainfo file around `info` (already bencoded). Keys in byte order, as BEP 3 requires. */
export function buildTorrentFile(info: Buffer, urls: TorrentUrls): Buffer {
  return Buffer.concat([
    Buffer.from('d'),
    enc('announce'),
    enc(urls.announce),
    enc('created by'),
    enc('imgsrv'),
    enc('info'),
    info,
    enc('url-list'),
    enc([urls.webSeed]),
    Buffer.from('e'),
  ]);
}

/** URLs for NAME@VERSION on a server reachable at `base` (http://addr:port). */
export function torrentUrls(base: string, image: string, version: number, payloadName: string): TorrentUrls {
  return {
    announce: `${base}/announce`,
    webSeed: `${base}/seed/${encodeURIComponent(image)}/${version}/${encodeURIComponent(payloadName)}`,
  };
}
