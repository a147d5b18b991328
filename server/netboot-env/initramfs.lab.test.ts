// The real initramfs, unpacked and run in a chroot: Node loads koffi and the
// client bundle, every restore tool runs with only the libraries shipped, the
// modules match modules.dep, and a second build gives the same bytes. A lab
// test because the build takes about a minute (then cached, see cached-build.ts)
// and chroot needs root.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { zstdDecompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { buildNetboot } from './build.ts';
import { CACHED_EPOCH, cachedNetboot } from './cached-build.ts';
import { moduleName, parseModulesDep } from './modules.ts';

const execFileP = promisify(execFile);
const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('the real initramfs in a chroot', () => {
  let build: Awaited<ReturnType<typeof cachedNetboot>>;
  let root: string;
  let mods: string;
  let procMounted = false;

  beforeAll(async () => {
    build = await cachedNetboot();
    console.log(
      `netboot build ${build.cached ? 'from cache' : 'fresh'} (${build.buildMs} ms): kernel ${build.kernelBytes} B, initrd ${build.initrdBytes} B ${build.compression}, cpio ${build.cpioBytes} B, in ${build.dir}`,
    );
    root = await mkdtemp(join(tmpdir(), 'imgsrv-initramfs-'));
    const r = spawnSync('cpio', ['-idm', '--quiet', '--no-absolute-filenames'], { cwd: root, input: zstdDecompressSync(await readFile(build.initrd)), maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`cpio: ${r.stderr.toString()}`);
    mods = join(root, 'usr/lib/modules', build.kernelVersion);
    // As /init does: the tools look at /proc/self/mounts (via /etc/mtab) before writing a device.
    await execFileP('mount', ['-t', 'proc', 'proc', join(root, 'proc')]);
    procMounted = true;
  });
  afterAll(async () => {
    if (procMounted) await execFileP('umount', [join(root, 'proc')]);
    // Never rm -r into a mounted /proc.
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** Run argv inside the chroot with the client's PATH; resolves with exit code and output. */
  async function inRoot(argv: string[]): Promise<{ code: number; out: string }> {
    try {
      // Not via busybox env: with /proc mounted it prefers its own applets (mkswap…) to the programs in PATH.
      const r = await execFileP('chroot', [root, ...argv], { timeout: 30_000, env: { PATH: '/usr/sbin:/usr/bin:/bin', HOME: '/root' } });
      return { code: 0, out: r.stdout + r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
  }

  it('runs Node 24 from /usr/bin/node with the dynamic loader and libraries at their paths', async () => {
    // The links are absolute (as on the host): resolve them inside the chroot.
    expect(await inRoot(['readlink', '-f', '/lib64/ld-linux-x86-64.so.2'])).toEqual({ code: 0, out: '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n' });
    const r = await inRoot(['/usr/bin/node', '-p', 'process.version']);
    expect(r).toEqual({ code: 0, out: expect.stringMatching(/^v24\./) });
  });

  it('loads koffi (linux x64 build only) and calls into libc with it', async () => {
    expect(await readdir(join(root, 'imgsrv/node_modules/koffi/build/koffi'))).toEqual(['linux_x64']);
    const r = await inRoot(['/usr/bin/node', '-e', "const k = require('/imgsrv/node_modules/koffi'); console.log(k.load('libc.so.6').func('int getpid()')() > 0)"]);
    expect(r).toEqual({ code: 0, out: 'true\n' });
    // From the bundle's directory, a bare require('koffi') resolves to the shipped copy.
    const b = await inRoot(['/usr/bin/node', '--input-type=module', '-e', "import { createRequire } from 'node:module'; console.log(createRequire('/imgsrv/client.mjs').resolve('koffi'))"]);
    expect(b).toEqual({ code: 0, out: '/imgsrv/node_modules/koffi/index.js\n' });
  });

  it('loads the client bundle with its dependencies (webtorrent without native add-ons)', async () => {
    const swarmCli = build.clientEntry?.endsWith('swarm/cli.ts');
    const r = await inRoot(['/usr/bin/node', '/imgsrv/client.mjs', swarmCli ? '--help' : '--version']);
    expect(r.out).not.toMatch(/Cannot find|ReferenceError|ERR_|uTP not supported/);
    if (swarmCli) expect(r).toMatchObject({ code: 2, out: expect.stringMatching(/usage: /) });
    else expect(r.code).toBe(0);
  });

  const tools: [string[], RegExp][] = [
    [['mkfs.ext4', '-V'], /mke2fs 1\./],
    [['e2fsck', '-V'], /e2fsck 1\./],
    [['mkfs.xfs', '-V'], /mkfs\.xfs version/],
    [['mkfs.vfat', '--help'], /Usage: mkfs\.vfat/],
    [['mkswap', '--version'], /util-linux/],
    [['sfdisk', '--version'], /util-linux/],
    [['sgdisk', '--version'], /GPT fdisk/],
    [['wipefs', '--version'], /util-linux/],
    [['blkid', '-V'], /util-linux/],
    [['partx', '--version'], /util-linux/],
    [['rsync', '--version'], /rsync +version 3/],
    [['zstd', '--version'], /Zstandard CLI/],
    [['grub-install', '--version'], /GRUB/],
    [['grub-mkimage', '--version'], /GRUB/],
    [['grub-probe', '--version'], /GRUB/],
    [['grub-editenv', '--version'], /GRUB/],
    [['extlinux', '--version'], /extlinux 6/],
    [['efibootmgr', '--version'], /version/],
  ];
  it.each(tools)('runs %j', async (argv, want) => {
    const r = await inRoot(argv);
    expect(r.out).toMatch(want);
    expect(r.code).toBe(0);
  });

  it('generates an ssh key (needs /etc/passwd) and makes an ext4 file system with mke2fs.conf', async () => {
    const k = await inRoot(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'test', '-f', '/tmp/k']);
    expect(k.code).toBe(0);
    expect(await readFile(join(root, 'tmp/k.pub'), 'utf8')).toMatch(/^ssh-ed25519 \S+ test\n$/);
    const y = await inRoot(['ssh-keygen', '-y', '-f', '/tmp/k']);
    expect(y.out).toMatch(/^ssh-ed25519 /);
    await writeFile(join(root, 'tmp/fs.img'), '');
    await truncate(join(root, 'tmp/fs.img'), 16 << 20);
    const m = await inRoot(['mkfs.ext4', '-q', '-F', '-L', 'root', '/tmp/fs.img']);
    expect(m).toEqual({ code: 0, out: '' });
    // The host's blkid is the oracle for what the shipped mke2fs wrote.
    const { stdout } = await execFileP('blkid', ['-o', 'export', join(root, 'tmp/fs.img')]);
    expect(stdout).toMatch(/TYPE=ext4/);
    expect(stdout).toMatch(/LABEL=root/);
  });

  it('has the bootloader data grub-install and extlinux read', async () => {
    for (const f of ['usr/lib/grub/i386-pc/boot.img', 'usr/lib/grub/i386-pc/biosdisk.mod', 'usr/lib/grub/x86_64-efi/kernel.img', 'usr/lib/grub/x86_64-efi/part_gpt.mod']) {
      expect(existsSync(join(root, f)), f).toBe(true);
    }
    for (const f of ['mbr.bin', 'gptmbr.bin']) expect(existsSync(join(root, 'usr/lib/syslinux/mbr', f)), f).toBe(true);
    expect(existsSync(join(root, 'usr/lib/syslinux/modules/bios/ldlinux.c32'))).toBe(true);
    expect(existsSync(join(root, 'etc/mke2fs.conf'))).toBe(true);
  });

  it('ships NIC, storage and file-system drivers whose modules.dep entries all resolve', async () => {
    const dep = parseModulesDep(await readFile(join(mods, 'modules.dep'), 'utf8'));
    const names = new Set([...dep.keys()].map(moduleName));
    for (const m of ['virtio_net', 'e1000', 'e1000e', 'igb', 'ixgbe', 'i40e', 'mlx5_core', 'bnxt_en', 'virtio_blk', 'virtio_scsi', 'ahci', 'nvme', 'megaraid_sas', 'mpt3sas', 'usb_storage', 'uas', 'xhci_pci', 'ext4', 'xfs', 'vfat', 'nls_ascii', 'nls_cp437', 'nls_utf8']) {
      expect(names, m).toContain(m);
    }
    for (const [path, deps] of dep) {
      for (const p of [path, ...deps]) expect(existsSync(join(mods, p)), p).toBe(true);
      // modinfo (kmod) as the oracle: the file is a module of that name.
      const { stdout } = await execFileP('modinfo', ['-F', 'name', join(mods, path)]);
      expect(stdout.trim().replaceAll('-', '_')).toBe(moduleName(path));
    }
    const boot = (await readFile(join(root, 'etc/imgsrv/boot-modules'), 'utf8')).trim().split('\n');
    expect(boot).toEqual(expect.arrayContaining(['virtio_blk', 'ahci', 'nvme', 'crc32c_generic', 'ext4', 'xfs', 'vfat']));
    // crc32c (a soft dependency busybox modprobe ignores) loads before the file systems that need it.
    expect(boot.indexOf('crc32c_generic')).toBeLessThan(boot.indexOf('xfs'));
  });

  it('/init and the DHCP script parse with busybox sh', async () => {
    expect(await inRoot(['/bin/sh', '-n', '/init'])).toEqual({ code: 0, out: '' });
    expect(await inRoot(['/bin/sh', '-n', '/etc/imgsrv/udhcpc.script'])).toEqual({ code: 0, out: '' });
  });

  it('is reproducible: a second build gives the same bytes', async () => {
    const out = await mkdtemp(join(tmpdir(), 'imgsrv-initramfs-again-'));
    try {
      const again = await buildNetboot({ outDir: out, logger: silentLogger, sourceDateEpoch: CACHED_EPOCH, ...(build.clientEntry ? { clientEntry: build.clientEntry } : {}) });
      expect(again.sha256).toEqual(build.sha256);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
