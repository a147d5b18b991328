/** `imgsrv keys generate|show`: the image signing key in the data directory (local: no server needed). */
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { keyIdOf } from '../../../images/signing.ts';
import { ImgsrvError } from '../../../core/errors.ts';
import { generateKeyFiles, signingPaths } from '../../images/signer.ts';
import type { GlobalOptions } from '../args.ts';

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('the ed25519 key that signs images (nodes built with its public key refuse unsigned images)');

  keys
    .command('generate')
    .description('make the signing key pair in <data>/signing; then rebuild the netboot environment and sign existing images')
    .option('--force', 'replace an existing key (images signed with it stop verifying on rebuilt nodes)')
    .action((flags: { force?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const { keyId, pub } = generateKeyFiles(g.data, Boolean(flags.force));
      process.stdout.write(
        `signing key ${keyId} written (public key ${pub})\n` +
          'next: `imgsrv netboot build` (nodes then trust it and refuse unsigned images), `imgsrv images sign NAME@V` for versions published before\n',
      );
    });

  keys
    .command('show')
    .description('the signing key id and public key')
    .option('--json', 'print JSON')
    .action((flags: { json?: boolean }, cmd: Command) => {
      const p = signingPaths(cmd.optsWithGlobals<GlobalOptions>().data);
      if (!existsSync(p.pub)) throw new ImgsrvError('NOT_FOUND', 'no signing key: images are not signed', { hint: 'make one with `imgsrv keys generate`' });
      const publicKey = readFileSync(p.pub, 'utf8');
      const out = { keyId: keyIdOf(publicKey), publicKeyFile: p.pub, publicKey };
      process.stdout.write(flags.json ? JSON.stringify(out, null, 2) + '\n' : `key ${out.keyId}\n${publicKey}`);
    });
}
