/** `imgsrv netboot build`: assemble the netboot kernel + initramfs into the data dir. */
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Command } from 'commander';
import { dataPaths } from '../../data-dir.ts';
import { signingPaths } from '../../images/signer.ts';
import { createRootLogger } from '../../../core/log.ts';
import type { GlobalOptions } from '../args.ts';
import type { NetbootBuild } from '../../netboot-env/build.ts';

export function registerNetboot(program: Command): void {
  const netboot = program.command('netboot').description('the network boot environment (kernel + initramfs)');
  netboot
    .command('build')
    .description(
      "build kernel + initramfs (Debian's kernel, busybox, Node 24 + the client, the restore's tools) into <data>/tftp/imgsrv; nodes trust the keys in <data>/signing/*.pub to sign images",
    )
    .option('--kernel-version <ver>', 'kernel release (default: newest in /boot)')
    .option('--client <entry.ts>', 'client entry point to bundle (default: initramfs-client/client/main.ts)')
    .option('--zstd-level <n>', 'zstd level 1-19 (default 9; 19 is ~12% smaller and ~30x slower)', (v) => Number(v))
    .option('--json', 'print JSON')
    .action(async (flags: { kernelVersion?: string; client?: string; zstdLevel?: number; json?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const dir = dataPaths(g.data).netbootDir;
      // The server's signing key pair lives in <data>/signing (imgsrv keys generate): nodes trust its public half.
      const { readPublicKeyFiles, normaliseTrustedKeys } = await import('../../netboot-env/trusted-keys.ts');
      const pubs = await readPublicKeyFiles(signingPaths(g.data).dir);
      // Checked here too so a bad file is named by its path.
      normaliseTrustedKeys(pubs.map((p) => p.pem), pubs.map((p) => p.file));
      mkdirSync(dirname(dir), { recursive: true });
      // Build beside the live files, then rename each into place: a node booting meanwhile
      // gets either the old or the new file, never a half-written one.
      const tmp = mkdtempSync(join(dirname(dir), '.netboot-build-'));
      try {
        const log = createRootLogger(flags.json ? 'warn' : 'info');
        const { buildNetboot } = await import('../../netboot-env/build.ts');
        const t0 = Date.now();
        const out = await buildNetboot({
          outDir: tmp,
          logger: log,
          ...(flags.kernelVersion ? { kernelVersion: flags.kernelVersion } : {}),
          ...(flags.client ? { clientEntry: flags.client } : {}),
          ...(flags.zstdLevel ? { zstdLevel: flags.zstdLevel } : {}),
          trustedKeys: pubs.map((p) => p.pem),
          ...(process.env.SOURCE_DATE_EPOCH ? { sourceDateEpoch: Number(process.env.SOURCE_DATE_EPOCH) } : {}),
        });
        mkdirSync(dir, { recursive: true });
        renameSync(out.kernel, join(dir, 'vmlinuz'));
        renameSync(out.initrd, join(dir, 'initrd.img'));
        renameSync(out.localBoot, join(dir, 'localboot.efi'));
        const result = { ...out, kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img'), localBoot: join(dir, 'localboot.efi'), buildMs: Date.now() - t0 };
        if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        else process.stdout.write(sizeReport(result));
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

/** The human-readable build summary: sizes, what dominates them, and what was bundled. */
export function sizeReport(r: NetbootBuild & { buildMs: number }): string {
  return [
    `kernel ${r.kernelVersion}: ${r.kernel} (${mib(r.kernelBytes)})`,
    `initrd: ${r.initrd} (${mib(r.initrdBytes)} ${r.compression}, ${mib(r.cpioBytes)} uncompressed, sha256 ${r.sha256.initrd.slice(0, 16)}…)`,
    `total to boot: ${mib(r.kernelBytes + r.initrdBytes)}; built in ${(r.buildMs / 1000).toFixed(1)} s`,
    ...(r.clientEntry ? [`client: ${r.clientEntry}`] : []),
    r.trustedKeys.length > 0
      ? `trusted signing keys: ${r.trustedKeys.join(' ')} (nodes refuse images not signed by one of them)`
      : 'trusted signing keys: none (nodes do not check image signatures; `imgsrv keys generate`, then build again)',
    `firmware: ${r.firmware.length > 0 ? r.firmware.join(' ') : 'none needed or none on this host'}`,
    `largest files: ${r.largest.map((l) => `${l.path} ${mib(l.bytes)}`).join(', ')}`,
    '',
  ].join('\n');
}
