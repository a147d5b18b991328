/**
 * The Debian sample of the real-OS end-to-end test and `imgsrv lab demo
 * --sample debian`: Debian 12 made with debootstrap (minbase) plus the
 * kernel, systemd, udev, openssh-server, grub for BIOS and UEFI, rsync,
 * iproute2 and busybox (the application: httpd on port 80 answering
 * `hostname=<name>`), installed without recommends and without docs,
 * translations or drivers for hardware a server lacks (dpkg path-exclude,
 * debian-sample-files/rootfs/etc/dpkg/dpkg.cfg.d/). It sits on a GPT disk
 * laid out as a server's often is, with separate file systems (SAMPLE_LAYOUT:
 * bios_grub, ESP on /boot/efi, ext4 /boot, ext4 /, XFS /var, XFS /home
 * filling the rest), boots with its own grub, and has a static address pinned to its MAC
 * in systemd-networkd, a real sample's identity (machine-id, ssh host keys)
 * and root login by key.
 *
 * Cache: the disk is built once per input fingerprint (suite, mirror,
 * package list, debootstrap's version, this file, chroot.ts and debian-sample-files/)
 * into .cache/debian-sample-<hash>/ with the key root accepts and the
 * build's figures (build.json). Callers boot a copy, never the cached disk.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { ImgsrvError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { GPT_TYPES } from '../initramfs-client/restore/layout.ts';
import { REPO } from './imgsrv.ts';
import { inChroot, unmountBelow } from './chroot.ts';
import { Lab, sh } from './netns.ts';
import { startVm } from './qemu.ts';

export const DEBIAN_SUITE = 'bookworm';
/** What goes on top of debootstrap's minbase (with their dependencies, never their recommends). */
export const DEBIAN_SAMPLE_PACKAGES = [
  'linux-image-amd64', 'systemd', 'systemd-sysv', 'udev', 'openssh-server',
  'grub-pc-bin', 'grub-efi-amd64-bin', 'grub2-common', 'grub-common',
  'rsync', 'iproute2', 'busybox', 'zstd', 'xfsprogs',
] as const;
export const DEBIAN_SAMPLE_HOSTNAME = 'debian-sample';
/** The sample's NIC; its static address is pinned to this MAC (the restore must turn that into DHCP). */
export const DEBIAN_SAMPLE_MAC = '52:54:00:5a:de:05';
export const DEBIAN_SAMPLE_CIDR = '198.18.0.5/24';
export const DEBIAN_SAMPLE_GATEWAY = '198.18.0.1';
export const DEBIAN_ROOT_UUID = '5a3b1e00-0b5e-4a11-9c0d-0000000000d1';
export const DEBIAN_ESP_ID = '5A3B-0ED1';

/** One partition of the sample's disk; the last one fills the disk. */
interface SamplePartition {
  name: string;
  type: string;
  sizeMiB?: number;
  fs?: { type: 'vfat' | 'ext4' | 'xfs'; mount: string; uuid: string; label: string; options: string; pass: 0 | 1 | 2 };
}

/**
 * The sample's disk, partition by partition (numbers follow the order): the
 * separate /boot, /var and /home a server often has, two of them XFS; /home
 * is last, so it is the partition a restore grows.
 */
export const SAMPLE_LAYOUT: readonly SamplePartition[] = [
  { name: 'bios', type: GPT_TYPES.biosGrub, sizeMiB: 1 },
  { name: 'EFI', type: GPT_TYPES.esp, sizeMiB: 64, fs: { type: 'vfat', mount: '/boot/efi', uuid: DEBIAN_ESP_ID, label: 'EFI', options: 'umask=0077', pass: 1 } },
  { name: 'boot', type: GPT_TYPES.linux, sizeMiB: 256, fs: { type: 'ext4', mount: '/boot', uuid: '5a3b1e00-0b5e-4a11-9c0d-0000000000b0', label: 'boot', options: 'defaults', pass: 2 } },
  { name: 'root', type: GPT_TYPES.linux, sizeMiB: 1024, fs: { type: 'ext4', mount: '/', uuid: DEBIAN_ROOT_UUID, label: 'root', options: 'errors=remount-ro', pass: 1 } },
  { name: 'var', type: GPT_TYPES.linux, sizeMiB: 384, fs: { type: 'xfs', mount: '/var', uuid: '5a3b1e00-0b5e-4a11-9c0d-0000000000a0', label: 'var', options: 'defaults', pass: 2 } },
  { name: 'home', type: GPT_TYPES.linux, fs: { type: 'xfs', mount: '/home', uuid: '5a3b1e00-0b5e-4a11-9c0d-0000000000e0', label: 'home', options: 'defaults,noatime', pass: 2 } },
];
/** The sample's disk: small enough to copy in a second (sparse), roomy enough for its layout (XFS needs 300 MB or more). */
const DISK_MIB = 2300;
const FILES = join(import.meta.dirname, 'debian-sample-files');
const DEFAULT_MIRROR = 'http://deb.debian.org/debian';

/** Figures of one build, kept in build.json beside the disk. */
export interface DebianSampleBuild {
  seconds: number;
  debootstrapSeconds: number;
  packagesSeconds: number;
  provisionSeconds: number;
  /** Bytes of files in the root tree (apparent size) and their number. */
  installedBytes: number;
  files: number;
  /** The disk file's size and the bytes it really occupies (sparse). */
  diskBytes: number;
  diskAllocatedBytes: number;
  kernelVersion: string;
  machineId: string;
  /** ssh host key fingerprints by type ("ED25519": "SHA256:…"), as `ssh-keygen -lf` prints them. */
  hostKeys: Record<string, string>;
  mirror: string;
  packages: string[];
}

/** A built (or cached) sample disk. */
export interface DebianSample {
  cacheDir: string;
  /** The cached raw disk: boot a copy (copyDisk). */
  disk: string;
  /** Private key root accepts over ssh. */
  key: string;
  build: DebianSampleBuild;
  /** Whether this call built it (false: taken from the cache). */
  built: boolean;
}

/** The Debian mirror apt is configured with (deb.debian.org when none is found): debootstrap uses the same. */
export function aptMirror(): string {
  const files = ['/etc/apt/sources.list', ...listDir('/etc/apt/sources.list.d').filter((n) => /\.(list|sources)$/.test(n)).map((n) => join('/etc/apt/sources.list.d', n))];
  return mirrorIn(files.filter((f) => existsSync(f)).map((f) => readFileSync(f, 'utf8'))) ?? DEFAULT_MIRROR;
}

/** The first URI serving the suite itself (not -updates or -security) with main, in one-line or deb822 sources. */
export function mirrorIn(texts: readonly string[]): string | undefined {
  for (const t of texts) {
    // one-line style: deb [options] URI SUITE COMPONENTS…
    const one = new RegExp(`^deb\\s+(?:\\[[^\\]]*\\]\\s+)?(\\S+)\\s+${DEBIAN_SUITE}\\s.*\\bmain\\b`, 'm').exec(t);
    if (one) return one[1]!.replace(/\/+$/, '');
    // deb822 style: a stanza whose Suites: name the suite itself
    for (const stanza of t.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/im.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.*)$/im.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      const components = /^Components:\s*(.*)$/im.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      const types = /^Types:\s*(.*)$/im.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uri && types.includes('deb') && suites.includes(DEBIAN_SUITE) && components.includes('main')) return uri.replace(/\/+$/, '');
    }
  }
  return undefined;
}

function listDir(d: string): string[] {
  try {
    return readdirSync(d).sort();
  } catch {
    return [];
  }
}

/** Fingerprint of everything that goes into the disk. */
async function inputsHash(mirror: string): Promise<string> {
  const h = createHash('sha256').update(`${DEBIAN_SUITE}\0${mirror}\0${DEBIAN_SAMPLE_PACKAGES.join(',')}\0`);
  h.update(await sh('dpkg-query', ['-W', '-f=${Version}', 'debootstrap']).catch(() => readFileSync('/usr/sbin/debootstrap', 'utf8')));
  for (const f of [import.meta.filename, join(import.meta.dirname, 'chroot.ts')]) h.update(readFileSync(f));
  const walk = (d: string): void => {
    for (const name of listDir(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(relative(FILES, p)).update(`${statSync(p).mode}\0`).update(readFileSync(p));
    }
  };
  walk(FILES);
  return h.digest('hex').slice(0, 16);
}

/** Build the sample disk, or take it from the cache. Needs root, debootstrap, the mirror and QEMU. */
export async function ensureDebianSample(opts: { log?: Logger; say?: (s: string) => void } = {}): Promise<DebianSample> {
  const mirror = aptMirror();
  const cacheDir = join(REPO, '.cache', `debian-sample-${await inputsHash(mirror)}`);
  const paths = (dir: string) => ({ disk: join(dir, 'disk.raw'), key: join(dir, 'id_ed25519'), build: join(dir, 'build.json') });
  if (existsSync(paths(cacheDir).build)) {
    return { cacheDir, ...paths(cacheDir), build: JSON.parse(readFileSync(paths(cacheDir).build, 'utf8')) as DebianSampleBuild, built: false };
  }
  if (!existsSync('/usr/sbin/debootstrap')) throw new ImgsrvError('IO', 'the Debian sample needs debootstrap', { hint: 'apt-get install debootstrap (setup.sh does)' });
  opts.say?.(`building the Debian sample with debootstrap from ${mirror} (once; a few minutes)…`);
  const partial = `${cacheDir}.partial`;
  // A build killed mid-way may have left debootstrap's or our mounts (never the host's own /dev) in it.
  await unmountBelow(partial);
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  try {
    const build = await buildDisk(partial, mirror, paths(partial), opts);
    writeFileSync(paths(partial).build, `${JSON.stringify(build, null, 2)}\n`);
    renameSync(partial, cacheDir);
    opts.log?.info({ cacheDir, ...build }, 'Debian sample built');
    // Builds from older inputs are never used again.
    for (const old of listDir(join(REPO, '.cache')).filter((n) => n.startsWith('debian-sample-') && join(REPO, '.cache', n) !== cacheDir)) {
      rmSync(join(REPO, '.cache', old), { recursive: true, force: true });
    }
    return { cacheDir, ...paths(cacheDir), build, built: true };
  } catch (err) {
    await unmountBelow(partial);
    rmSync(partial, { recursive: true, force: true });
    throw err;
  }
}

/** debootstrap, the packages, the configuration, the disk, the boot loaders: every step of a build. */
async function buildDisk(dir: string, mirror: string, out: { disk: string; key: string }, opts: { say?: (s: string) => void }): Promise<DebianSampleBuild> {
  const t0 = Date.now();
  const tree = join(dir, 'tree');
  await sh('debootstrap', ['--variant=minbase', DEBIAN_SUITE, tree, mirror], { timeoutMs: 1_200_000 });
  const debootstrapSeconds = (Date.now() - t0) / 1000;
  opts.say?.(`debootstrap done in ${debootstrapSeconds.toFixed(0)} s; installing ${DEBIAN_SAMPLE_PACKAGES.length} packages…`);

  // The excludes first, so dpkg leaves those paths out of every package from here on; then the same paths out of minbase.
  const t1 = Date.now();
  cpSync(join(FILES, 'rootfs/etc/dpkg'), join(tree, 'etc/dpkg'), { recursive: true });
  pruneExcluded(tree);
  await inChroot(tree, async (run) => {
    await run(['apt-get', 'update', '-qq']);
    await run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...DEBIAN_SAMPLE_PACKAGES]);
    await run(['apt-get', 'clean']);
  });
  pruneExcluded(tree);
  rmSync(join(tree, 'var/lib/apt/lists'), { recursive: true, force: true });
  mkdirSync(join(tree, 'var/lib/apt/lists/partial'), { recursive: true });
  const packagesSeconds = (Date.now() - t1) / 1000;

  await configure(tree, out.key);
  const kernelVersion = listDir(join(tree, 'boot')).find((f) => f.startsWith('vmlinuz-'))?.slice('vmlinuz-'.length);
  if (!kernelVersion) throw new ImgsrvError('IO', 'Debian sample: no kernel in /boot after installing linux-image-amd64', { hint: 'see the apt output above; the build runs again next time' });
  const hostKeys: Record<string, string> = {};
  for (const f of listDir(join(tree, 'etc/ssh')).filter((n) => /^ssh_host_\w+_key\.pub$/.test(n))) {
    const [, fp, type] = /^\d+ (SHA256:\S+) .* \((\w+)\)$/.exec((await sh('ssh-keygen', ['-lf', join(tree, 'etc/ssh', f)])).trim()) ?? [];
    if (fp && type) hostKeys[type] = fp;
  }
  const machineId = readFileSync(join(tree, 'etc/machine-id'), 'utf8').trim();
  const installedBytes = Number((await sh('du', ['-sb', '--apparent-size', tree])).split('\t')[0]);
  const files = Number((await sh('du', ['-s', '--inodes', tree])).split('\t')[0]);

  await makeDisk(tree, out.disk);
  const t2 = Date.now();
  await provision(tree, out.disk, kernelVersion);
  const provisionSeconds = (Date.now() - t2) / 1000;
  rmSync(tree, { recursive: true, force: true });
  const st = statSync(out.disk);
  return {
    seconds: (Date.now() - t0) / 1000, debootstrapSeconds, packagesSeconds, provisionSeconds, installedBytes, files,
    diskBytes: st.size, diskAllocatedBytes: st.blocks * 512, kernelVersion, machineId, hostKeys, mirror, packages: [...DEBIAN_SAMPLE_PACKAGES],
  };
}

/** Remove what the dpkg excludes name from packages debootstrap unpacked before they were in place. */
function pruneExcluded(tree: string): void {
  for (const d of ['man', 'info', 'lintian', 'bug']) rmSync(join(tree, 'usr/share', d), { recursive: true, force: true });
  for (const pkg of listDir(join(tree, 'usr/share/doc'))) {
    const p = join(tree, 'usr/share/doc', pkg);
    if (!statSync(p).isDirectory()) continue;
    for (const f of listDir(p)) if (f !== 'copyright') rmSync(join(p, f), { recursive: true, force: true });
  }
  for (const f of listDir(join(tree, 'usr/share/locale'))) if (f !== 'locale.alias') rmSync(join(tree, 'usr/share/locale', f), { recursive: true, force: true });
}

const put = (tree: string, path: string, text: string, mode = 0o644): void => {
  mkdirSync(dirname(join(tree, path)), { recursive: true });
  writeFileSync(join(tree, path), text);
  chmodSync(join(tree, path), mode);
};

/** The sample's own configuration: name, fstab, pinned network, application, boot loader defaults, root's key. */
async function configure(tree: string, key: string): Promise<void> {
  cpSync(join(FILES, 'rootfs'), tree, { recursive: true });
  put(tree, 'etc/hostname', `${DEBIAN_SAMPLE_HOSTNAME}\n`);
  put(tree, 'etc/hosts', `127.0.0.1\tlocalhost\n127.0.1.1\t${DEBIAN_SAMPLE_HOSTNAME}\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n`);
  put(tree, 'etc/fstab', [
    '# <file system> <mount point> <type> <options> <dump> <pass>',
    ...SAMPLE_LAYOUT.flatMap(({ fs }) => (fs ? [`UUID=${fs.uuid} ${fs.mount} ${fs.type} ${fs.options} 0 ${fs.pass}`] : [])),
    '',
  ].join('\n'));
  mkdirSync(join(tree, 'boot/efi'), { recursive: true });
  // Something of the users' own on /home, as on any host.
  put(tree, 'home/operator/notes.txt', 'kept with the image\n');
  // debootstrap copies the build host's resolver; the lab has no DNS.
  put(tree, 'etc/resolv.conf', '');
  // The NIC named and addressed by its MAC, as a hand-configured server has it.
  put(tree, 'etc/systemd/network/10-lan0.link', `[Match]\nMACAddress=${DEBIAN_SAMPLE_MAC}\n\n[Link]\nName=lan0\n`);
  put(tree, 'etc/systemd/network/10-lan0.network', `[Match]\nMACAddress=${DEBIAN_SAMPLE_MAC}\n\n[Network]\nAddress=${DEBIAN_SAMPLE_CIDR}\nGateway=${DEBIAN_SAMPLE_GATEWAY}\n`);
  await inChroot(tree, async (run) => {
    await run(['systemctl', 'enable', 'systemd-networkd.service', 'sample-app.service']);
  });
  await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'imgsrv-lab-debian', '-f', key]);
  mkdirSync(join(tree, 'root/.ssh'), { recursive: true, mode: 0o700 });
  put(tree, 'root/.ssh/authorized_keys', readFileSync(`${key}.pub`, 'utf8'), 0o600);
}

/**
 * The GPT disk of SAMPLE_LAYOUT, each file system made with the tree's part
 * below its mount point (the parts under a deeper mount point left out of the
 * shallower one): ext4 and FAT written at the partition's offset in the file,
 * XFS through a loop device over the partition (the host's loop devices have
 * no partition scanning).
 */
async function makeDisk(tree: string, file: string): Promise<void> {
  await sh('truncate', ['-s', `${DISK_MIB}M`, file]);
  const script = ['label: gpt', ...SAMPLE_LAYOUT.map((p, i) => `${i === 0 ? 'start=1MiB, ' : ''}${p.sizeMiB ? `size=${p.sizeMiB}MiB, ` : ''}type=${p.type}, name=${p.name}`), ''].join('\n');
  execFileSync('sfdisk', ['-q', file], { input: script });
  const table = JSON.parse(await sh('sfdisk', ['--json', file])) as { partitiontable: { sectorsize?: number; partitions: Array<{ start: number; size: number }> } };
  const sector = table.partitiontable.sectorsize ?? 512;
  const made = table.partitiontable.partitions;
  if (made.length !== SAMPLE_LAYOUT.length) throw new ImgsrvError('IO', `sfdisk made ${made.length} partitions on ${file}, not ${SAMPLE_LAYOUT.length}`);
  // Each mount point's files move to a tree of their own, deepest first, leaving the empty mount point behind.
  const parts = join(dirname(file), 'parts');
  const mounted = SAMPLE_LAYOUT.flatMap((p, i) => (p.fs ? [{ fs: p.fs, at: made[i]! }] : [])).sort((a, b) => b.fs.mount.length - a.fs.mount.length);
  const trees = new Map<string, string>();
  for (const { fs } of mounted) {
    if (fs.mount === '/') {
      trees.set('/', tree);
      continue;
    }
    const own = join(parts, fs.label);
    mkdirSync(dirname(own), { recursive: true });
    renameSync(join(tree, fs.mount), own);
    mkdirSync(join(tree, fs.mount));
    trees.set(fs.mount, own);
  }
  try {
    for (const { fs, at } of mounted) {
      const offset = at.start * sector;
      const bytes = at.size * sector;
      const from = trees.get(fs.mount)!;
      if (fs.type === 'vfat') {
        // The ESP's files (none yet: grub goes there while provisioning) would need mtools: refuse rather than drop them.
        if (listDir(from).length > 0) throw new ImgsrvError('IO', `Debian sample: ${fs.mount} has files before grub-install; the build cannot copy them onto FAT`);
        await sh('mkfs.vfat', ['-F', '32', '-n', fs.label, '-i', fs.uuid.replace('-', ''), `--offset=${at.start}`, file, String(bytes / 1024)]);
      } else if (fs.type === 'ext4') {
        await sh('mkfs.ext4', ['-q', '-F', '-L', fs.label, '-U', fs.uuid, '-d', from, '-E', `offset=${offset}`, file, `${bytes / 1024}k`], { timeoutMs: 600_000 });
      } else {
        await xfsFrom(from, file, offset, bytes, fs);
      }
    }
  } finally {
    // The tree as it was (the build reads it again to provision), shallowest mount point first.
    for (const [mount, own] of [...trees].reverse()) {
      if (mount === '/') continue;
      rmSync(join(tree, mount), { recursive: true, force: true });
      renameSync(own, join(tree, mount));
    }
    rmSync(parts, { recursive: true, force: true });
  }
}

/** An XFS file system over `bytes` of `file` at `offset`, holding a copy of `from` (owners, modes, xattrs, links as they are). */
async function xfsFrom(from: string, file: string, offset: number, bytes: number, fs: { uuid: string; label: string }): Promise<void> {
  const loop = (await sh('losetup', ['--find', '--show', '--offset', String(offset), '--sizelimit', String(bytes), file])).trim();
  const mnt = `${file}.mnt-${fs.label}`;
  try {
    await sh('mkfs.xfs', ['-q', '-f', '-L', fs.label, '-m', `uuid=${fs.uuid}`, loop]);
    mkdirSync(mnt, { recursive: true });
    await sh('mount', ['-t', 'xfs', loop, mnt]);
    try {
      await sh('cp', ['-a', '--sparse=always', `${from}/.`, mnt], { timeoutMs: 600_000 });
    } finally {
      await sh('umount', [mnt]);
    }
  } finally {
    await sh('losetup', ['-d', loop]).catch(() => undefined);
    rmSync(mnt, { recursive: true, force: true });
  }
}

/** Boot the disk once with its own kernel and the provisioning script as init: grub goes on from inside (see the script). */
async function provision(tree: string, disk: string, kernelVersion: string): Promise<void> {
  const lab = await Lab.create();
  try {
    const vm = await startVm(lab, {
      name: 'debprov',
      firmware: 'bios',
      mac: DEBIAN_SAMPLE_MAC,
      kernel: join(tree, 'boot', `vmlinuz-${kernelVersion}`),
      initrd: join(tree, 'boot', `initrd.img-${kernelVersion}`),
      append: `console=ttyS0,115200n8 root=UUID=${DEBIAN_ROOT_UUID} ro panic=-1 init=/usr/local/sbin/imgsrv-lab-provision`,
      disk,
      serialLog: join(dirname(disk), 'provision.serial.log'),
    });
    try {
      await vm.waitFor(/imgsrv-lab-provision: (done|FAILED.*)/, 600_000).then((m) => {
        if (m[1] !== 'done') throw new ImgsrvError('IO', `Debian sample: provisioning ${m[1]}\n${vm.serial.split('\n').slice(-30).join('\n')}`, { hint: `serial log: ${join(dirname(disk), 'provision.serial.log')}` });
      });
      await vm.waitExit(60_000);
    } finally {
      await vm.stop();
    }
  } finally {
    await lab.destroy();
  }
}

/** Copy the cached disk for one VM (sparse: a second, not the whole file). */
export async function copyDisk(sample: DebianSample, to: string): Promise<string> {
  await sh('cp', ['--sparse=always', '--reflink=auto', sample.disk, to], { timeoutMs: 120_000 });
  return to;
}
