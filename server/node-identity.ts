/**
 * Node identity. Each node's token is bound to its MAC: `n1.<mac>.<mac-hmac>`,
 * an HMAC-SHA256 of the MAC under a server key that never leaves the data
 * directory. The server keeps no per-node secret (a token is recomputed, not
 * looked up), a token names the one node it may speak for, and a leaked
 * token speaks for that node only. A token is handed out only in that node's
 * own boot files (iPXE script, pxelinux config), and only to a requester the
 * server can tie to the MAC (boot-source.ts).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ImgsrvError } from '../core/errors.ts';
import { normalizeMac } from '../core/mac.ts';

const VERSION = 'n1';
const TOKEN = /^n1\.([0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;

/** Mints and checks node tokens under one key. */
export class NodeIdentity {
  private readonly key: Buffer;
  constructor(key: Buffer) {
    if (key.length < 32) throw new ImgsrvError('BAD_CONFIG', 'node key is shorter than 32 bytes', { hint: 'delete node.key in the data directory; imgsrv makes a new one (every node token changes)' });
    this.key = key;
  }

  private mac12(mac: string): string {
    const m = normalizeMac(mac);
    if (!m) throw new ImgsrvError('BAD_USAGE', `not a MAC address: ${JSON.stringify(mac.slice(0, 40))}`);
    return m.replaceAll(':', '');
  }

  private sign(mac12: string): Buffer {
    return createHmac('sha256', this.key).update(`imgsrv-node-${VERSION}:${mac12}`).digest();
  }

  /** The token of node `mac` (any MAC spelling). */
  tokenFor(mac: string): string {
    const m = this.mac12(mac);
    return `${VERSION}.${m}.${this.sign(m).toString('base64url')}`;
  }

  /** The MAC (aa:bb:…) a genuine token speaks for; undefined for anything else (constant-time on the MAC). */
  macOf(token: string): string | undefined {
    const t = TOKEN.exec(token);
    if (!t) return undefined;
    const sent = Buffer.from(t[2]!, 'base64url');
    const want = this.sign(t[1]!);
    if (sent.length !== want.length || !timingSafeEqual(sent, want)) return undefined;
    return t[1]!.match(/../g)!.join(':');
  }
}

/** Whether a bearer token has the node-token shape (so it is checked as one, never as an admin token). */
export function looksLikeNodeToken(token: string): boolean {
  return token.startsWith(`${VERSION}.`);
}

/**
 * The node key in `file` (0600, 32 random bytes, base64), made on first use.
 * Replacing the file changes every node token: nodes booted before must boot again.
 */
export function loadNodeKey(file: string): { key: Buffer; created: boolean } {
  if (existsSync(file)) {
    chmodSync(file, 0o600);
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    return { key, created: false };
  }
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return { key, created: true };
}
