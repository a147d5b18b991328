/**
 * Secrets sealed at rest: AES-256-GCM under a 32-byte key kept in its own
 * file (0600) in the data directory, never in the database. A sealed value is
 * `version(1) | iv(12) | tag(16) | ciphertext`; the caller's `context` (the
 * row it belongs to) is authenticated data, so a sealed password copied to
 * another row does not open there.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ImgsrvError } from '../../core/errors.ts';

const VERSION = 1;
const IV = 12;
const TAG = 16;

/** Seals and opens small secrets under one key. */
export class SecretBox {
  private readonly key: Buffer;
  constructor(key: Buffer) {
    if (key.length !== 32) throw new ImgsrvError('BAD_CONFIG', 'the BMC secret key is not 32 bytes', { hint: 'restore bmc.key in the data directory from a backup, or delete it and set every BMC password again' });
    this.key = key;
  }

  seal(plain: string, context: string): Buffer {
    const iv = randomBytes(IV);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return Buffer.concat([Buffer.of(VERSION), iv, c.getAuthTag(), body]);
  }

  open(sealed: Uint8Array, context: string): string {
    const b = Buffer.from(sealed);
    if (b.length < 1 + IV + TAG || b[0] !== VERSION) throw unreadable();
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, b.subarray(1, 1 + IV));
      d.setAAD(Buffer.from(context, 'utf8'));
      d.setAuthTag(b.subarray(1 + IV, 1 + IV + TAG));
      return Buffer.concat([d.update(b.subarray(1 + IV + TAG)), d.final()]).toString('utf8');
    } catch {
      throw unreadable();
    }
  }
}

function unreadable(): ImgsrvError {
  return new ImgsrvError('BAD_CONFIG', 'a stored BMC password does not open with bmc.key (the key file was replaced?)', {
    hint: 'set the password again: `imgsrv nodes bmc set MAC … --password-stdin`',
  });
}

/** The key in `file` (base64, 0600), made on first use. */
export function loadSecretKey(file: string): { key: Buffer; created: boolean } {
  if (existsSync(file)) {
    chmodSync(file, 0o600);
    return { key: Buffer.from(readFileSync(file, 'utf8').trim(), 'base64'), created: false };
  }
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return { key, created: true };
}
