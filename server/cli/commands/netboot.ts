/** `imgsrv netboot build`: assemble the netboot kernel + initramfs into the data dir. */
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Command } from 'commander';
import { dataPaths } from '../../data-dir.ts';
import { createRootLogger } from '../../log.ts';
import type { GlobalOptions } from '../main.ts';

export function registerNetboot(program: Command): void {
  const netboot = program.command('netboot').description('the network boot environment (kernel + initramfs)');
  netboot
    .command('build')
    .description('build kernel + initramfs from Debian\'s linux-image-amd64 and busybox into <data>/tftp/imgsrv')
    .option('--kernel-version <ver>', 'kernel release (default: newest in /boot)')
    .option('--json', 'print JSON')
    .action(async (flags: { kernelVersion?: string; json?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const dir = dataPaths(g.data).netbootDir;
      mkdirSync(dirname(dir), { recursive: true });
      // Build beside the live files, then rename each into place: a node booting meanwhile
      // gets either the old or the new file, never a half-written one.
      const tmp = mkdtempSync(join(dirname(dir), '.netboot-build-'));
      try {
        const log = createRootLogger(flags.json ? 'warn' : 'info');
        const { buildNetboot } = await import('../../../initramfs-client/build/build.ts');
        const out = await buildNetboot({
          outDir: tmp,
          logger: log,
          ...(flags.kernelVersion ? { kernelVersion: flags.kernelVersion } : {}),
          ...(process.env.SOURCE_DATE_EPOCH ? { sourceDateEpoch: Number(process.env.SOURCE_DATE_EPOCH) } : {}),
        });
        mkdirSync(dir, { recursive: true });
        renameSync(out.kernel, join(dir, 'vmlinuz'));
        renameSync(out.initrd, join(dir, 'initrd.img'));
        const result = { ...out, kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img') };
        if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        else
          process.stdout.write(
            `kernel ${result.kernelVersion}: ${result.kernel} (${mib(result.kernelBytes)})\n` +
              `initrd: ${result.initrd} (${mib(result.initrdBytes)}, sha256 ${result.sha256.initrd.slice(0, 16)}…)\n`,
          );
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
