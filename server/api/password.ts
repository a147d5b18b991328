/**
 * The admin password for the console: scrypt (RFC 7914) with a random salt,
 * stored as one string in the settings table. The admin token signs in too,
 * so a fresh install has a working credential before anyone sets a password.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Store } from '../store/db.ts';

const KEY = 'auth.password';
// N = 2^15 costs ~50 ms and 32 MiB here: slow enough to make guessing expensive, fast enough for a sign-in.
const PARAMS = { N: 1 << 15, r: 8, p: 1, maxmem: 64 << 20 } as const;

function derive(password: string, salt: Buffer, o: ScryptOptions & { N: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, 32, o, (err, key) => (err ? reject(err) : resolve(key))));
}

/** Store a new admin password (as `scrypt$N$r$p$salt$hash`). */
export async function setAdminPassword(store: Store, password: string): Promise<void> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, PARAMS);
  store.settings.set(KEY, ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64'), key.toString('base64')].join('$'));
}

/** Whether a password has been set (else only the admin token signs in). */
export function hasAdminPassword(store: Store): boolean {
  return store.settings.get<string>(KEY) !== undefined;
}

/** Whether `password` is the admin password or the admin token (constant-time). */
export async function checkAdminCredential(store: Store, password: string): Promise<boolean> {
  if (store.tokens.verify('admin', password)) return true;
  const stored = store.settings.get<string>(KEY);
  const [algo, n, r, p, salt, hash] = stored?.split('$') ?? [];
  if (algo !== 'scrypt' || !salt || !hash) return false;
  const want = Buffer.from(hash, 'base64');
  const got = await derive(password, Buffer.from(salt, 'base64'), { N: Number(n), r: Number(r), p: Number(p), maxmem: PARAMS.maxmem });
  return got.length === want.length && timingSafeEqual(got, want);
}
