/**
 * Whether the node may restore the image its plan names. The netboot build
 * ships the public keys of the server's signing key(s) in TRUSTED_KEYS_DIR;
 * with any there, the plan must carry a good signature of its meta.json by
 * one of them, checked before anything touches the disk. The meta names the
 * artifact's size and SHA-256, which the restore checks before the disk is
 * made bootable, so the signature vouches for every byte restored. With no
 * key, signing is not configured and the node restores as before.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImgsrvError } from '../../core/errors.ts';
import { checkSignature, keyIdOf } from '../../images/signing.ts';
import type { RestorePlan } from '../../contract/plan.ts';

/** Where the initramfs keeps the trusted keys (server/netboot-env/trusted-keys.ts writes them). */
export const TRUSTED_KEYS_DIR = '/imgsrv/trusted-keys';

/** The PEM public keys in `dir` (`*.pem`, by name); none when it is missing. */
export async function readTrustedKeys(dir: string = TRUSTED_KEYS_DIR): Promise<string[]> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return Promise.all(names.filter((n) => n.endsWith('.pem')).sort().map((n) => readFile(join(dir, n), 'utf8')));
}

/** What the check decided: not signed when the node trusts no key (signing is off), else the key that signed. */
export type TrustDecision = { signed: false } | { signed: true; keyId: string };

/** Check the plan's signature against `trusted`; throws IMAGE_INVALID (with the reason) when it must be refused. */
export function verifyPlanSignature(plan: Pick<RestorePlan, 'image' | 'meta' | 'signature'>, trusted: readonly string[]): TrustDecision {
  if (trusted.length === 0) return { signed: false };
  const label = `${plan.image.name}@${plan.image.version}`;
  let check;
  try {
    check = checkSignature(plan.meta, plan.signature, trusted);
  } catch (err) {
    // A trusted key file the node cannot parse: the netboot environment is broken, not the image.
    throw new ImgsrvError('IMAGE_INVALID', `refusing ${label}: a trusted key in ${TRUSTED_KEYS_DIR} cannot be read (${(err as Error).message})`, {
      hint: 'rebuild the netboot environment: imgsrv netboot build',
      cause: err,
    });
  }
  if (!check.ok) throw new ImgsrvError('IMAGE_INVALID', `refusing ${label}: ${check.reason}`, { hint: refusalHint(label, plan.signature, trusted) });
  return { signed: true, keyId: check.keyId };
}

/** What the operator can do, by why the signature failed. */
function refusalHint(label: string, signature: RestorePlan['signature'] | undefined, trusted: readonly string[]): string {
  if (!signature) return `the server did not sign this version (published before its signing key existed?); sign it on the server: imgsrv images sign ${label}`;
  if (!trusted.some((pem) => keyIdOf(pem) === signature.keyId)) {
    return "the server signs with a key this netboot environment was not built with; rebuild it (imgsrv netboot build) so nodes trust the server's key";
  }
  return "the image's meta.json or its meta.sig was changed after signing; do not deploy it: capture the image again";
}
