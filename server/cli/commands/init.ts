/** `imgsrv init`: create the data directory, state store and tokens. */
import type { Command } from 'commander';
import { initDataDir } from '../../data-dir.ts';
import type { GlobalOptions } from '../args.ts';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create the data directory, state store and API tokens (serve does this on first start too)')
    .option('--json', 'print JSON')
    .action((flags: { json?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const { store, paths, created } = initDataDir(g.data);
      const out = { data: paths.root, schemaVersion: store.schemaVersion, adminTokenFile: paths.adminToken, created };
      store.close();
      if (flags.json) process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      else
        process.stdout.write(
          `data directory ${paths.root} ready (schema v${out.schemaVersion})\n` +
            (created.includes('admin') ? `new admin token written to ${paths.adminToken} (mode 0600)\n` : `admin token kept: ${paths.adminToken}\n`),
        );
    });
}
