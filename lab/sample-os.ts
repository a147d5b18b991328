/**
 * The compact sample OS of the end-to-end test and `imgsrv lab demo`: the
 * host's Debian kernel, its own small initramfs (static busybox, storage
 * drivers, an /init that finds root=UUID=… and switch_roots), and a busybox
 * root (init, getty on ttyS0, DHCP, httpd on port 80 answering
 * `hostname=<name>`). About 14 MiB; boots in seconds under QEMU TCG.
 *
 * Cache: the tree is built once per input fingerprint (the files under
 * testdata/sample-os/, this file, hostname, kernel, busybox) into
 * .cache/sample-os-<hash>/tree and copied (`cp -a`) to the caller's `dir`,
 * so callers may change their copy freely.
 *
 * `startSampleOsHost` serves a tree read-only with a real `rsync --daemon`
 * in a lab namespace, for `imgsrv capture rsync://<addr>/root`.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import * as zlib from 'node:zlib';
import type { Logger } from '../core/log.ts';
import { ImgsrvError } from '../core/errors.ts';
import { addParentDirs, encodeCpio, type CpioEntry } from '../server/netboot-env/cpio.ts';
import { compareKernelVersions } from '../server/netboot-env/build.ts';
import { parseModulesDep, resolveModules, subsetModulesAlias, subsetModulesDep } from '../server/netboot-env/modules.ts';
import { sh, stopChild, type Lab, type LabHost } from './netns.ts';
import { REPO } from './imgsrv.ts';

/** The sample's root file system UUID (mkfs.ext4 -U): the restore must replace it everywhere. */
export const SAMPLE_ROOT_UUID = '5a3b1e00-0b5e-4a11-9c0d-000000000001';
/** The sample's host name, in /etc/hostname and /etc/hosts. */
export const SAMPLE_HOSTNAME = 'sample';
/** The MAC pinned in the sample's 70-persistent-net.rules (the restore must drop that rule). */
export const SAMPLE_MAC = '52:54:00:5a:3b:01';
/** The sample's /etc/machine-id (the restore must write a new one). */
export const SAMPLE_MACHINE_ID = '5a3b1e000b5e4a119c0d5a3b1e000001';
/** TCP port of the sample's application (busybox httpd). */
export const SAMPLE_APP_PORT = 80;
/** What GET / on the application answers for a machine named `hostname`. */
export const sampleAppResponse = (hostname: string): RegExp => new RegExp(`^hostname=${hostname.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm');
/**
 * The console line once the network is up: groups 1 = hostname, 2 = IPv4 address. It must match up
 * to the end of the line: the console arrives in chunks, and a match on a chunk that ended inside the
 * address read "198.18.0.1" for 198.18.0.119 (a CI run then asked the server's port 80 for the page).
 */
export const SAMPLE_UP_LINE = /imgsrv-sample: up hostname=(\S+) ip=(\d+\.\d+\.\d+\.\d+)\r?\n/;
/** The rsync daemon module that serves the tree. */
export const SAMPLE_RSYNC_MODULE = 'root';

/** Drivers of the sample's initramfs (with dependencies): enough to find an ext4 root on virtio, SCSI, SATA or NVMe. */
const INITRD_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_scsi', 'sd_mod', 'ahci', 'nvme', 'crc32c_generic', 'crc32c_intel', 'ext4'];
/** Drivers of the root tree, loaded by rcS: NICs, and vfat for a /boot/efi the restore may add to fstab. */
const ROOT_MODULES = ['virtio_net', 'e1000', 'e1000e', 'vfat', 'nls_cp437', 'nls_ascii', 'nls_utf8'];
const TESTDATA = join(import.meta.dirname, 'sample-os-files');
const BUSYBOX = '/bin/busybox';

/** A built sample OS root tree. */
export interface SampleOs {
  /** The root tree (the `dir` given to buildSampleOs). */
  root: string;
  kernelVersion: string;
  /** Kernel and initramfs inside the tree, for direct kernel boot. */
  kernel: string;
  initrd: string;
  hostname: string;
  rootUuid: string;
  /** Apparent size of the tree in bytes. */
  bytes: number;
  /** The cached tree it was copied from. */
  cacheDir: string;
}

/** Options of buildSampleOs. */
export interface SampleOsOptions {
  hostname?: string;
  /** Kernel release from /boot; default the newest. */
  kernelVersion?: string;
  log?: Logger;
}

/** The newest kernel in /boot (the one the netboot build uses by default). */
export function defaultKernelVersion(): string {
  const versions = readdirSync('/boot').filter((f) => f.startsWith('vmlinuz-')).map((f) => f.slice('vmlinuz-'.length));
  const v = versions.sort(compareKernelVersions).at(-1);
  if (!v) throw new ImgsrvError('IO', 'no kernel in /boot', { hint: 'apt-get install linux-image-amd64' });
  return v;
}

/** Build (or take from the cache) the sample OS and copy its tree to `dir` (created; must not exist or be empty). */
export async function buildSampleOs(dir: string, opts: SampleOsOptions = {}): Promise<SampleOs> {
  const ver = opts.kernelVersion ?? defaultKernelVersion();
  const hostname = opts.hostname ?? SAMPLE_HOSTNAME;
  const modDir = join('/lib/modules', ver);
  for (const [f, hint] of [[join('/boot', `vmlinuz-${ver}`), 'apt-get install linux-image-amd64'], [join(modDir, 'modules.dep'), 'apt-get install linux-image-amd64'], [BUSYBOX, 'apt-get install busybox-static']] as const) {
    if (!existsSync(f)) throw new ImgsrvError('IO', `sample OS: ${f} is missing`, { hint });
  }
  const cacheDir = join(REPO, '.cache', `sample-os-${inputsHash(ver, hostname)}`);
  const cached = join(cacheDir, 'tree');
  if (!existsSync(join(cached, 'sbin', 'init'))) {
    const t0 = Date.now();
    const partial = join(cacheDir, 'tree.partial');
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    try {
      buildTree(partial, ver, hostname);
      renameSync(partial, cached);
    } catch (err) {
      rmSync(partial, { recursive: true, force: true });
      throw err;
    }
    opts.log?.info({ cacheDir, seconds: (Date.now() - t0) / 1000 }, 'sample OS built');
    // Builds from older inputs are never used again.
    for (const old of readdirSync(join(REPO, '.cache')).filter((n) => n.startsWith('sample-os-') && join(REPO, '.cache', n) !== cacheDir)) {
      rmSync(join(REPO, '.cache', old), { recursive: true, force: true });
    }
  }
  mkdirSync(dir, { recursive: true });
  await sh('cp', ['-a', '--reflink=auto', `${cached}/.`, dir], { timeoutMs: 120_000 });
  const bytes = Number((await sh('du', ['-sb', '--apparent-size', dir])).split('\t')[0]);
  opts.log?.info({ dir, bytes, kernelVersion: ver }, 'sample OS tree ready');
  return { root: dir, kernelVersion: ver, kernel: join(dir, 'boot', `vmlinuz-${ver}`), initrd: join(dir, 'boot', `initrd.img-${ver}`), hostname, rootUuid: SAMPLE_ROOT_UUID, bytes, cacheDir };
}

/** Fingerprint of everything that goes into the tree. */
function inputsHash(ver: string, hostname: string): string {
  const h = createHash('sha256').update(`${ver}\0${hostname}\0`);
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(relative(TESTDATA, p)).update(`${statSync(p).mode}\0`).update(readFileSync(p));
    }
  };
  walk(TESTDATA);
  h.update(readFileSync(import.meta.filename));
  for (const f of [BUSYBOX, join('/boot', `vmlinuz-${ver}`), join('/lib/modules', ver, 'modules.dep')]) h.update(`${f}:${statSync(f).size}:${statSync(f).mtimeMs}\0`);
  return h.digest('hex').slice(0, 16);
}

const write = (root: string, path: string, text: string, mode = 0o644): void => {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text, { mode });
  chmodSync(join(root, path), mode); // writeFileSync's mode is filtered by the umask
};

/** Assemble the root tree in `root` (synchronous: small files and a few tools). */
function buildTree(root: string, ver: string, hostname: string): void {
  for (const d of ['boot/efi', 'dev', 'proc', 'sys', 'run', 'mnt', 'srv/www', 'var/log', 'var/lib', 'etc/ssh', 'etc/udev/rules.d', 'bin', 'sbin', 'usr/bin', 'usr/sbin']) mkdirSync(join(root, d), { recursive: true });
  for (const [d, mode] of [['tmp', 0o1777], ['root', 0o700]] as const) {
    mkdirSync(join(root, d), { recursive: true });
    chmodSync(join(root, d), mode);
  }
  symlinkSync('../run', join(root, 'var/run'));

  // Static busybox and its applets where Debian's busybox puts them (`--list-full`), linked relatively.
  cpSync(BUSYBOX, join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  for (const applet of execFileSync(BUSYBOX, ['--list-full'], { encoding: 'utf8' }).split('\n').filter((a) => a.includes('/'))) {
    const link = join(root, applet);
    if (!existsSync(link)) symlinkSync(relative(dirname(link), join(root, 'bin/busybox')), link);
  }

  cpSync(join(TESTDATA, 'rootfs'), root, { recursive: true });
  chmodSync(join(root, 'etc/shadow'), 0o600);
  write(root, 'etc/hostname', `${hostname}\n`);
  write(root, 'etc/hosts', `127.0.0.1\tlocalhost\n127.0.1.1\t${hostname}\n`);
  write(root, 'etc/machine-id', `${SAMPLE_MACHINE_ID}\n`, 0o444);
  write(root, 'etc/fstab', `# <file system> <mount point> <type> <options> <dump> <pass>\nUUID=${SAMPLE_ROOT_UUID} / ext4 defaults 0 1\n`);
  write(root, 'etc/resolv.conf', '');
  write(root, 'etc/udev/rules.d/70-persistent-net.rules', `# The sample's NIC, pinned to eth0 (a restored machine has another MAC).\nSUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="${SAMPLE_MAC}", ATTR{type}=="1", NAME="eth0"\n`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `root@${hostname}`, '-f', join(root, 'etc/ssh/ssh_host_ed25519_key')]);

  // Kernel, the root's own modules (for busybox modprobe), and the initramfs.
  const modDir = join('/lib/modules', ver);
  const dep = parseModulesDep(readFileSync(join(modDir, 'modules.dep'), 'utf8'));
  const alias = existsSync(join(modDir, 'modules.alias')) ? readFileSync(join(modDir, 'modules.alias'), 'utf8') : '';
  const rootMods = resolveModules(dep, ROOT_MODULES).loadOrder;
  for (const p of rootMods) cpSync(join(modDir, p), join(root, 'lib/modules', ver, p));
  write(root, `lib/modules/${ver}/modules.dep`, subsetModulesDep(dep, rootMods));
  write(root, `lib/modules/${ver}/modules.alias`, subsetModulesAlias(alias, rootMods));
  cpSync(join('/boot', `vmlinuz-${ver}`), join(root, 'boot', `vmlinuz-${ver}`));
  writeFileSync(join(root, 'boot', `initrd.img-${ver}`), buildInitrd(ver, dep));
}

/** The sample's own initramfs: busybox, storage drivers in load order, and testdata/sample-os/initrd-init as /init. */
function buildInitrd(ver: string, dep: ReturnType<typeof parseModulesDep>): Buffer {
  const modDir = join('/lib/modules', ver);
  const { loadOrder } = resolveModules(dep, INITRD_MODULES); // absent ones (e.g. crc32c_intel) are skipped
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox' && a !== 'linuxrc');
  const entries: CpioEntry[] = [
    { path: 'bin/busybox', type: 'file', mode: 0o755, data: readFileSync(BUSYBOX) },
    ...applets.map((a): CpioEntry => ({ path: `bin/${a}`, type: 'symlink', mode: 0o777, target: 'busybox' })),
    { path: 'sbin', type: 'symlink', mode: 0o777, target: 'bin' },
    { path: 'init', type: 'file', mode: 0o755, data: readFileSync(join(TESTDATA, 'initrd-init')) },
    { path: 'etc/sample-initrd/modules', type: 'file', mode: 0o644, data: Buffer.from(loadOrder.map((p) => `${p}\n`).join('')) },
    { path: 'dev/console', type: 'char-device', mode: 0o600, major: 5, minor: 1 },
    { path: 'dev/null', type: 'char-device', mode: 0o666, major: 1, minor: 3 },
    ...['proc', 'sys', 'newroot', 'tmp'].map((d): CpioEntry => ({ path: d, type: 'dir', mode: 0o755 })),
    ...loadOrder.map((p): CpioEntry => ({ path: `lib/modules/${ver}/${p}`, type: 'file', mode: 0o644, data: readFileSync(join(modDir, p)) })),
  ];
  const cpio = encodeCpio(addParentDirs(entries));
  const config = existsSync(join('/boot', `config-${ver}`)) ? readFileSync(join('/boot', `config-${ver}`), 'utf8') : '';
  // zstd unpacks faster than gzip under emulation; gzip for kernels (or Nodes) without it.
  if (/^CONFIG_RD_ZSTD=y$/m.test(config) && typeof zlib.zstdCompressSync === 'function') {
    return zlib.zstdCompressSync(cpio, { params: { [zlib.constants.ZSTD_c_compressionLevel]: 19, [zlib.constants.ZSTD_c_checksumFlag]: 1 } });
  }
  return zlib.gzipSync(cpio, { level: 9 });
}

/** Partition types of the default restore layout (GPT: bios_grub, ESP, Linux root). */
const GPT_TYPES = { biosGrub: '21686148-6449-6E6F-744E-656564454649', esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', linux: '0FC63DAF-8483-4772-8E3D-693D0DE47709' };
/** Volume id of the ESP made by makeSampleDisk, as blkid shows it. */
export const SAMPLE_ESP_UUID = '5A3B-0EF1';

/**
 * Put a tree on a new raw disk file: 'plain' = one ext4 file system over the
 * whole file (64 MiB); 'gpt' = the restore's default layout (1 MiB bios_grub,
 * 64 MiB ESP vfat "EFI", ext4 root "root" filling `sizeMiB`), as a machine
 * restored by imgsrv has it. The root gets SAMPLE_ROOT_UUID. No bootloader.
 */
export async function makeSampleDisk(tree: string, file: string, opts: { layout: 'plain' | 'gpt'; sizeMiB?: number }): Promise<{ rootDevice: string }> {
  const sizeMiB = opts.sizeMiB ?? (opts.layout === 'plain' ? 64 : 160);
  await sh('truncate', ['-s', `${sizeMiB}M`, file]);
  const ext4 = ['-q', '-F', '-L', 'root', '-U', SAMPLE_ROOT_UUID, '-d', tree];
  if (opts.layout === 'plain') {
    await sh('mkfs.ext4', [...ext4, file]);
    return { rootDevice: '/dev/vda' };
  }
  const script = ['label: gpt', `size=1MiB, type=${GPT_TYPES.biosGrub}`, `size=64MiB, type=${GPT_TYPES.esp}, name=EFI`, `type=${GPT_TYPES.linux}, name=root`, ''].join('\n');
  execFileSync('sfdisk', ['-q', file], { input: script });
  const table = JSON.parse(await sh('sfdisk', ['--json', file])) as { partitiontable: { sectorsize?: number; partitions: Array<{ start: number; size: number }> } };
  const sector = table.partitiontable.sectorsize ?? 512;
  const [, esp, root] = table.partitiontable.partitions;
  if (!esp || !root) throw new ImgsrvError('IO', `sfdisk made ${table.partitiontable.partitions.length} partitions on ${file}, not 3`);
  // Both mkfs write inside the file at the partition's offset (no loop device: the host's loop has no partition scanning).
  await sh('mkfs.vfat', ['-n', 'EFI', '-i', SAMPLE_ESP_UUID.replace('-', ''), `--offset=${esp.start}`, file, String((esp.size * sector) / 1024)]);
  await sh('mkfs.ext4', [...ext4, '-E', `offset=${root.start * sector}`, file, `${(root.size * sector) / 1024}k`]);
  return { rootDevice: '/dev/vda3' };
}

/** A running rsync daemon serving a sample tree. */
export interface SampleOsHost {
  host: LabHost;
  address: string;
  /** rsync://<address>/root: what `imgsrv capture` takes. */
  rsyncUrl: string;
  daemon: ChildProcess;
  /** Stop the daemon and remove its config (the tree is the caller's). */
  stop(): Promise<void>;
}

/** Serve `tree` read-only as rsync module `root` from a new lab host at `cidr` (e.g. 198.18.0.20/24). */
export async function startSampleOsHost(lab: Lab, tree: string, opts: { name?: string; cidr: string }): Promise<SampleOsHost> {
  const address = opts.cidr.split('/')[0]!;
  const work = mkdtempSync(join(tmpdir(), 'imgsrv-sample-rsyncd-'));
  let daemon: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    if (daemon) await stopChild(daemon);
    rmSync(work, { recursive: true, force: true });
  };
  try {
    const conf = join(work, 'rsyncd.conf');
    writeFileSync(
      conf,
      [
        `log file = ${join(work, 'rsyncd.log')}`,
        `pid file = ${join(work, 'rsyncd.pid')}`,
        `[${SAMPLE_RSYNC_MODULE}]`,
        `  path = ${tree}`,
        '  comment = imgsrv sample OS',
        '  read only = yes',
        // Root reads every file (ssh host keys, shadow) and numeric ids keep owners as they are.
        '  uid = 0',
        '  gid = 0',
        '  numeric ids = yes',
        '  use chroot = yes',
        '  list = yes',
        '  timeout = 120',
        '',
      ].join('\n'),
    );
    const host = await lab.addHost(opts.name ?? 'sampleos', opts.cidr);
    daemon = host.spawn('rsync', ['--daemon', '--no-detach', `--config=${conf}`, `--address=${address}`, '--port=873'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    daemon.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    daemon.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    // Ready once it lists its modules (bounded: 10 s).
    for (let i = 0; ; i++) {
      if (daemon.exitCode !== null) throw new ImgsrvError('SOCKET', `rsync daemon exited (${daemon.exitCode}): ${out.trim()}`);
      const list = await host.exec('rsync', [`rsync://${address}/`], { timeoutMs: 5000 }).catch(() => '');
      if (list.includes(SAMPLE_RSYNC_MODULE)) break;
      if (i >= 40) throw new ImgsrvError('SOCKET', `rsync daemon did not answer on ${address}:873 in 10 s: ${out.trim()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    return { host, address, rsyncUrl: `rsync://${address}/${SAMPLE_RSYNC_MODULE}`, daemon, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
