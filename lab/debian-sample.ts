/**
 * The Debian sample of the real-OS end-to-end test and `imgsrv lab demo
 * --sample debian`: Debian 12 made with debootstrap (minbase) plus the
 * kernel, systemd, udev, openssh-server, grub for BIOS and UEFI (and
 * Secure Boot's signed shim and GRUB, as Debian's installer adds them), rsync,
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
import { lvmArgv } from '../initramfs-client/restore/lvm.ts';
import { REPO } from './imgsrv.ts';
import { inChroot, unmountBelow } from './chroot.ts';
import { Lab, sh } from './netns.ts';
import { startVm } from './qemu.ts';

export const DEBIAN_SUITE = 'bookworm';
/** What goes on top of debootstrap's minbase (with their dependencies, never their recommends). */
export const DEBIAN_SAMPLE_PACKAGES = [
  'linux-image-amd64', 'systemd', 'systemd-sysv', 'udev', 'openssh-server',
  'grub-pc-bin', 'grub-efi-amd64-bin', 'grub2-common', 'grub-common',
  // Secure Boot's chain, as Debian's installer adds it on amd64: Microsoft-signed shim, Debian-signed GRUB (the kernel is signed already)
  'shim-signed', 'grub-efi-amd64-signed',
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
/** Which disk layout the sample has: separate partitions (the default), LVM (SAMPLE_LVM), btrfs subvolumes (SAMPLE_BTRFS) or md RAID1 on two disks (SAMPLE_MD). */
export type DebianSampleLayout = 'parts' | 'lvm' | 'btrfs' | 'md';

/**
 * The md RAID1 sample (layout 'md'), as Debian's installer lays out a RAID1
 * pair: two disks partitioned alike, each with bios_grub, an ESP (the first
 * disk's mounted at /boot/efi, the second's an unmounted copy, so either disk
 * boots under UEFI) and two Linux RAID partitions, mirrored: md1 (metadata
 * 1.0, the superblock at the end, as boot arrays have it) holding /boot and
 * md0 (1.2) holding /, the one that fills the disk. fstab names the file
 * systems by UUID; the first disk's partition numbers, the second's the same.
 */
export const SAMPLE_MD = {
  partitions: [
    SAMPLE_LAYOUT[0]!,
    SAMPLE_LAYOUT[1]!,
    { name: 'boot', type: GPT_TYPES.raid, sizeMiB: 256, fs: { type: 'ext4', mount: '/boot', uuid: '5a3b1e00-0b5e-4a11-9c0d-0000000d00b1', label: 'boot', options: 'defaults', pass: 2 } },
    { name: 'root', type: GPT_TYPES.raid, fs: { type: 'ext4', mount: '/', uuid: '5a3b1e00-0b5e-4a11-9c0d-0000000d0001', label: 'root', options: 'errors=remount-ro', pass: 1 } },
  ] as readonly SamplePartition[],
  /** The arrays: device, the partition number of its member on each disk, its superblock format, its UUID (mdadm's form). */
  arrays: [
    { device: '/dev/md0', partition: 4, metadata: '1.2', mount: '/', uuid: '5a3b1e00:0b5e4a11:9c0d0000:000d0000' },
    { device: '/dev/md1', partition: 3, metadata: '1.0', mount: '/boot', uuid: '5a3b1e00:0b5e4a11:9c0d0000:000d0001' },
  ],
  /** The second disk's ESP (a copy of the first's, not in fstab). */
  spareEspId: '5A3B-0ED2',
  /** The disks' serial numbers while the build lays them out. */
  serials: ['imgsrv-md-a', 'imgsrv-md-b'],
} as const;

/**
 * The btrfs sample (layout 'btrfs'), as a btrfs install with subvolumes
 * lays it out: bios_grub and ESP partitions, then one btrfs over the rest
 * holding @ (mounted at /, /boot inside it) and @home (at /home), both
 * compress=zstd,noatime in fstab; the default subvolume stays the top
 * level, so the kernel finds / only through rootflags=subvol=@ (written by
 * update-grub).
 */
export const SAMPLE_BTRFS = {
  partitions: [SAMPLE_LAYOUT[0]!, SAMPLE_LAYOUT[1]!, { name: 'root', type: GPT_TYPES.linux }] as readonly SamplePartition[],
  uuid: '5a3b1e00-0b5e-4a11-9c0d-0000000b7f50',
  label: 'sysroot',
  subvolumes: [
    { name: '@', mount: '/', options: 'subvol=@,compress=zstd,noatime' },
    { name: '@home', mount: '/home', options: 'subvol=@home,compress=zstd,noatime' },
  ],
} as const;

/** One logical volume of the LVM sample's vg0; a swap LV has no mount. */
interface SampleLv {
  name: string;
  sizeMiB: number;
  fs: { type: 'ext4' | 'xfs' | 'swap'; mount?: string; uuid: string; label: string; options: string; pass: 0 | 1 | 2; spec: string };
}

/**
 * The LVM sample (layout 'lvm'), as Debian's installer lays out "guided, LVM":
 * bios_grub, ESP, ext4 /boot on partitions, then one PV partition holding
 * vg0 (4 MiB extents) with root (ext4), home (XFS) and swap_1, fstab naming
 * them by /dev/mapper and /dev/vg0 paths; about 300 MiB of vg0 left free.
 */
export const SAMPLE_LVM = {
  partitions: [
    SAMPLE_LAYOUT[0]!,
    SAMPLE_LAYOUT[1]!,
    SAMPLE_LAYOUT[2]!,
    { name: 'lvm', type: GPT_TYPES.lvm },
  ] as readonly SamplePartition[],
  vg: 'vg0',
  extentMiB: 4,
  lvs: [
    { name: 'root', sizeMiB: 1280, fs: { type: 'ext4', mount: '/', uuid: '5a3b1e00-0b5e-4a11-9c0d-00000000c0d1', label: 'root', options: 'errors=remount-ro', pass: 1, spec: '/dev/mapper/vg0-root' } },
    { name: 'home', sizeMiB: 320, fs: { type: 'xfs', mount: '/home', uuid: '5a3b1e00-0b5e-4a11-9c0d-00000000c0e0', label: 'home', options: 'defaults,noatime', pass: 2, spec: '/dev/vg0/home' } },
    { name: 'swap_1', sizeMiB: 64, fs: { type: 'swap', uuid: '5a3b1e00-0b5e-4a11-9c0d-00000000c05a', label: 'swap', options: 'sw', pass: 0, spec: '/dev/mapper/vg0-swap_1' } },
  ] as readonly SampleLv[],
} as const;

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
  /** The md sample's second disk (boot it beside `disk`; copyDisk copies it when asked for `which: 'mirror'`). */
  mirrorDisk?: string;
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
async function inputsHash(mirror: string, layout: DebianSampleLayout): Promise<string> {
  const h = createHash('sha256').update(`${DEBIAN_SUITE}\0${mirror}\0${packagesFor(layout).join(',')}\0${layout === 'parts' ? '' : `${layout}\0`}`);
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

/**
 * The packages of a layout: the LVM sample needs lvm2 (its initramfs activates the root LV), the btrfs one btrfs-progs
 * (its initramfs scans for btrfs devices), the md one mdadm (its initramfs assembles the arrays) and the tools its
 * build runs inside the VM (sfdisk, mkfs.ext4, mkfs.vfat), as Debian's installer leaves them.
 */
function packagesFor(layout: DebianSampleLayout): string[] {
  const more = { parts: [], lvm: ['lvm2'], btrfs: ['btrfs-progs'], md: ['mdadm', 'fdisk', 'e2fsprogs', 'dosfstools'] }[layout];
  return [...DEBIAN_SAMPLE_PACKAGES, ...more];
}

/** The cache directory prefix of a layout's builds (each layout keeps its own). */
const cachePrefix = (layout: DebianSampleLayout): string => (layout === 'parts' ? 'debian-sample-' : `debian-sample-${layout}-`);

/** Build the sample disk, or take it from the cache. Needs root, debootstrap, the mirror and QEMU. */
export async function ensureDebianSample(opts: { log?: Logger; say?: (s: string) => void; layout?: DebianSampleLayout } = {}): Promise<DebianSample> {
  const mirror = aptMirror();
  const layout = opts.layout ?? 'parts';
  const cacheDir = join(REPO, '.cache', `${cachePrefix(layout)}${await inputsHash(mirror, layout)}`);
  const paths = (dir: string) => ({ disk: join(dir, 'disk.raw'), key: join(dir, 'id_ed25519'), build: join(dir, 'build.json'), ...(layout === 'md' ? { mirrorDisk: join(dir, 'disk2.raw') } : {}) });
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
    const build = await buildDisk(partial, mirror, paths(partial), { ...opts, layout });
    writeFileSync(paths(partial).build, `${JSON.stringify(build, null, 2)}\n`);
    renameSync(partial, cacheDir);
    opts.log?.info({ cacheDir, ...build }, 'Debian sample built');
    // Builds from older inputs are never used again.
    const ours = (n: string): boolean => n.startsWith(cachePrefix(layout)) && /^[0-9a-f]{16}$/.test(n.slice(cachePrefix(layout).length));
    for (const old of listDir(join(REPO, '.cache')).filter((n) => ours(n) && join(REPO, '.cache', n) !== cacheDir)) {
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
async function buildDisk(dir: string, mirror: string, out: { disk: string; key: string; mirrorDisk?: string }, opts: { say?: (s: string) => void; layout: DebianSampleLayout }): Promise<DebianSampleBuild> {
  const packages = packagesFor(opts.layout);
  const t0 = Date.now();
  const tree = join(dir, 'tree');
  await sh('debootstrap', ['--variant=minbase', DEBIAN_SUITE, tree, mirror], { timeoutMs: 1_200_000 });
  const debootstrapSeconds = (Date.now() - t0) / 1000;
  opts.say?.(`debootstrap done in ${debootstrapSeconds.toFixed(0)} s; installing ${packages.length} packages…`);

  // The excludes first, so dpkg leaves those paths out of every package from here on; then the same paths out of minbase.
  const t1 = Date.now();
  cpSync(join(FILES, 'rootfs/etc/dpkg'), join(tree, 'etc/dpkg'), { recursive: true });
  pruneExcluded(tree);
  await inChroot(tree, async (run) => {
    await run(['apt-get', 'update', '-qq']);
    await run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...packages]);
    await run(['apt-get', 'clean']);
  });
  pruneExcluded(tree);
  rmSync(join(tree, 'var/lib/apt/lists'), { recursive: true, force: true });
  mkdirSync(join(tree, 'var/lib/apt/lists/partial'), { recursive: true });
  const packagesSeconds = (Date.now() - t1) / 1000;

  await configure(tree, out.key, opts.layout);
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

  const t2 = Date.now();
  if (opts.layout === 'md') {
    // md is made inside a VM (this host's kernel may have no md), which installs the boot loaders too.
    await makeMdDisks(tree, out.disk, out.mirrorDisk!, kernelVersion);
  } else {
    if (opts.layout === 'lvm') await makeLvmDisk(tree, out.disk);
    else if (opts.layout === 'btrfs') await makeBtrfsDisk(tree, out.disk);
    else await makeDisk(tree, out.disk);
    const root = opts.layout === 'lvm' ? SAMPLE_LVM.lvs[0]!.fs.spec : opts.layout === 'btrfs' ? `UUID=${SAMPLE_BTRFS.uuid} rootflags=subvol=@` : `UUID=${DEBIAN_ROOT_UUID}`;
    await provision(tree, out.disk, kernelVersion, root);
  }
  const provisionSeconds = (Date.now() - t2) / 1000;
  rmSync(tree, { recursive: true, force: true });
  const st = statSync(out.disk);
  const st2 = out.mirrorDisk ? statSync(out.mirrorDisk) : undefined;
  return {
    seconds: (Date.now() - t0) / 1000, debootstrapSeconds, packagesSeconds, provisionSeconds, installedBytes, files,
    diskBytes: st.size + (st2?.size ?? 0), diskAllocatedBytes: (st.blocks + (st2?.blocks ?? 0)) * 512, kernelVersion, machineId, hostKeys, mirror, packages,
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
async function configure(tree: string, key: string, layout: DebianSampleLayout): Promise<void> {
  cpSync(join(FILES, 'rootfs'), tree, { recursive: true });
  put(tree, 'etc/hostname', `${DEBIAN_SAMPLE_HOSTNAME}\n`);
  put(tree, 'etc/hosts', `127.0.0.1\tlocalhost\n127.0.1.1\t${DEBIAN_SAMPLE_HOSTNAME}\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n`);
  const parts = { parts: SAMPLE_LAYOUT, lvm: SAMPLE_LVM.partitions, btrfs: SAMPLE_BTRFS.partitions, md: SAMPLE_MD.partitions }[layout];
  put(tree, 'etc/fstab', [
    '# <file system> <mount point> <type> <options> <dump> <pass>',
    // the subvolumes by the file system's UUID and subvol=, as installers write them
    ...(layout === 'btrfs' ? SAMPLE_BTRFS.subvolumes.map((sv) => `UUID=${SAMPLE_BTRFS.uuid} ${sv.mount} btrfs ${sv.options} 0 0`) : []),
    ...parts.flatMap(({ fs }) => (fs ? [`UUID=${fs.uuid} ${fs.mount} ${fs.type} ${fs.options} 0 ${fs.pass}`] : [])),
    // LVs by their device names, as Debian's installer writes them
    ...(layout === 'lvm' ? SAMPLE_LVM.lvs.map(({ fs }) => `${fs.spec} ${fs.mount ?? 'none'} ${fs.type} ${fs.options} 0 ${fs.pass}`) : []),
    '',
  ].join('\n'));
  // No resume from the swap LV: the initramfs would otherwise wait for a hibernation image that never was.
  if (layout === 'lvm') put(tree, 'etc/initramfs-tools/conf.d/resume', 'RESUME=none\n');
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
  const { made, sector } = await partitionDisk(file, SAMPLE_LAYOUT);
  await fillFileSystems(tree, file, SAMPLE_LAYOUT.flatMap((p, i) => (p.fs ? [{ fs: p.fs, offset: made[i]!.start * sector, bytes: made[i]!.size * sector }] : [])));
}

/** sfdisk's script for a GPT of `layout`: the first partition at 1 MiB, the last one filling the disk. */
function sfdiskScript(layout: readonly SamplePartition[]): string {
  return ['label: gpt', ...layout.map((p, i) => `${i === 0 ? 'start=1MiB, ' : ''}${p.sizeMiB ? `size=${p.sizeMiB}MiB, ` : ''}type=${p.type}, name=${p.name}`), ''].join('\n');
}

/** The sparse disk file with a GPT of `layout` (the last partition fills the disk); its partitions in sectors. */
async function partitionDisk(file: string, layout: readonly SamplePartition[]): Promise<{ made: Array<{ start: number; size: number }>; sector: number }> {
  await sh('truncate', ['-s', `${DISK_MIB}M`, file]);
  execFileSync('sfdisk', ['-q', file], { input: sfdiskScript(layout) });
  const table = JSON.parse(await sh('sfdisk', ['--json', file])) as { partitiontable: { sectorsize?: number; partitions: Array<{ start: number; size: number }> } };
  const sector = table.partitiontable.sectorsize ?? 512;
  const made = table.partitiontable.partitions;
  if (made.length !== layout.length) throw new ImgsrvError('IO', `sfdisk made ${made.length} partitions on ${file}, not ${layout.length}`);
  return { made, sector };
}

/**
 * The LVM sample's disk: the partitions of SAMPLE_LVM, then vg0 and its LVs
 * written on the PV partition by the host's lvm without device-mapper
 * (--driverloaded n: metadata only, nothing activated; the host kernel may
 * have no dm at all), then each LV's file system written at its extents'
 * offset in the file, as a partition's is.
 */
async function makeLvmDisk(tree: string, file: string): Promise<void> {
  const { made, sector } = await partitionDisk(file, SAMPLE_LVM.partitions);
  const pvPart = made[SAMPLE_LVM.partitions.length - 1]!;
  const pvOffset = pvPart.start * sector;
  const loop = (await sh('losetup', ['--find', '--show', '--offset', String(pvOffset), '--sizelimit', String(pvPart.size * sector), file])).trim();
  const extents = new Map<string, number>();
  let peStart = 0;
  try {
    const lvm = (cmd: string, args: string[]) => sh('lvm', [...lvmArgv(cmd, [loop], args).slice(1), '--driverloaded', 'n']);
    await lvm('pvcreate', ['-ff', '-y', loop]);
    await lvm('vgcreate', ['-y', '-s', `${SAMPLE_LVM.extentMiB}m`, SAMPLE_LVM.vg, loop]);
    for (const lv of SAMPLE_LVM.lvs) await lvm('lvcreate', ['-y', '-an', '-Zn', '-Wn', '-n', lv.name, '-L', `${lv.sizeMiB}m`, SAMPLE_LVM.vg]);
    peStart = Number(JSON.parse(await lvm('pvs', ['--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'pe_start', loop])).report[0].pv[0].pe_start);
    const segs = JSON.parse(await lvm('lvs', ['--segments', '--reportformat', 'json', '-o', 'lv_name,seg_pe_ranges', SAMPLE_LVM.vg])) as { report: Array<{ seg: Array<{ lv_name: string; seg_pe_ranges: string }> }> };
    for (const seg of segs.report[0]!.seg) {
      // "/dev/loop3:0-319": one linear segment, its first extent
      const m = /:(\d+)-\d+$/.exec(seg.seg_pe_ranges);
      if (!m || extents.has(seg.lv_name)) throw new ImgsrvError('IO', `Debian sample: LV ${seg.lv_name} is not one linear segment (${seg.seg_pe_ranges})`);
      extents.set(seg.lv_name, Number(m[1]));
    }
  } finally {
    await sh('losetup', ['-d', loop]).catch(() => undefined);
  }
  const at = (lv: SampleLv) => ({ offset: pvOffset + peStart + extents.get(lv.name)! * SAMPLE_LVM.extentMiB * MiB, bytes: lv.sizeMiB * MiB });
  const fileSystems = [
    ...SAMPLE_LVM.partitions.flatMap((p, i) => (p.fs ? [{ fs: p.fs, offset: made[i]!.start * sector, bytes: made[i]!.size * sector }] : [])),
    ...SAMPLE_LVM.lvs.flatMap((lv) => (lv.fs.type !== 'swap' && lv.fs.mount ? [{ fs: { ...lv.fs, type: lv.fs.type, mount: lv.fs.mount }, ...at(lv) }] : [])),
  ];
  await fillFileSystems(tree, file, fileSystems);
  for (const lv of SAMPLE_LVM.lvs.filter((l) => l.fs.type === 'swap')) {
    const { offset, bytes } = at(lv);
    const swap = (await sh('losetup', ['--find', '--show', '--offset', String(offset), '--sizelimit', String(bytes), file])).trim();
    try {
      await sh('mkswap', ['-U', lv.fs.uuid, '-L', lv.fs.label, swap]);
    } finally {
      await sh('losetup', ['-d', swap]).catch(() => undefined);
    }
  }
}

const MiB = 1024 * 1024;

/**
 * The btrfs sample's disk: the partitions of SAMPLE_BTRFS, the ESP as the
 * other layouts make it, then the btrfs through a loop device over its
 * partition: @ and @home made in its top level and each mounted where the
 * sample mounts it, so the tree's /home lands in @home and the rest in @.
 */
async function makeBtrfsDisk(tree: string, file: string): Promise<void> {
  const { made, sector } = await partitionDisk(file, SAMPLE_BTRFS.partitions);
  const esp = SAMPLE_BTRFS.partitions[1]!;
  await fillFileSystems(tree, file, [{ fs: esp.fs!, offset: made[1]!.start * sector, bytes: made[1]!.size * sector }]);
  const part = made[2]!;
  const loop = (await sh('losetup', ['--find', '--show', '--offset', String(part.start * sector), '--sizelimit', String(part.size * sector), file])).trim();
  const mnt = `${file}.mnt-btrfs`;
  const mounted: string[] = [];
  try {
    await sh('mkfs.btrfs', ['-q', '-f', '-L', SAMPLE_BTRFS.label, '-U', SAMPLE_BTRFS.uuid, loop]);
    mkdirSync(mnt, { recursive: true });
    await sh('mount', ['-t', 'btrfs', '-o', 'subvolid=5', loop, mnt]);
    try {
      for (const sv of SAMPLE_BTRFS.subvolumes) await sh('btrfs', ['subvolume', 'create', join(mnt, sv.name)]);
    } finally {
      await sh('umount', [mnt]);
    }
    for (const sv of SAMPLE_BTRFS.subvolumes) {
      const at = join(mnt, sv.mount);
      mkdirSync(at, { recursive: true });
      await sh('mount', ['-t', 'btrfs', '-o', sv.options, loop, at]);
      mounted.push(at);
    }
    await sh('cp', ['-a', '--sparse=always', `${tree}/.`, mnt], { timeoutMs: 600_000 });
  } finally {
    for (const at of mounted.reverse()) await sh('umount', [at]).catch(() => undefined);
    // the kernel keeps a btrfs device registered after its last unmount: let go of it, then of the loop device
    await sh('btrfs', ['device', 'scan', '--forget', loop]).catch(() => undefined);
    await sh('losetup', ['-d', loop]).catch(() => undefined);
    rmSync(mnt, { recursive: true, force: true });
  }
}

/**
 * Each file system made with the tree's part below its mount point (the
 * parts under a deeper mount point left out of the shallower one): ext4
 * and FAT written at their offset in the file, XFS through a loop device
 * (the host's loop devices have no partition scanning).
 */
async function fillFileSystems(tree: string, file: string, fileSystems: ReadonlyArray<{ fs: { type: 'vfat' | 'ext4' | 'xfs'; mount: string; uuid: string; label: string }; offset: number; bytes: number }>): Promise<void> {
  // Each mount point's files move to a tree of their own, deepest first, leaving the empty mount point behind.
  const parts = join(dirname(file), 'parts');
  const mounted = [...fileSystems].sort((a, b) => b.fs.mount.length - a.fs.mount.length);
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
    for (const { fs, offset, bytes } of mounted) {
      const from = trees.get(fs.mount)!;
      if (fs.type === 'vfat') {
        // The ESP's files (none yet: grub goes there while provisioning) would need mtools: refuse rather than drop them.
        if (listDir(from).length > 0) throw new ImgsrvError('IO', `Debian sample: ${fs.mount} has files before grub-install; the build cannot copy them onto FAT`);
        await sh('mkfs.vfat', ['-F', '32', '-n', fs.label, '-i', fs.uuid.replace('-', ''), `--offset=${offset / 512}`, file, String(bytes / 1024)]);
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

/**
 * The md sample's two disks, laid out inside a VM (this host's kernel may
 * have no md): the tree goes onto a staging disk of its own (ext4, no
 * partitions), booted with the tree's own kernel and initramfs and
 * debian-sample-files/md/imgsrv-lab-md-build as init, the two blank disks
 * beside it; the script partitions them alike (SAMPLE_MD), makes the
 * arrays and file systems, copies the tree in and installs the boot
 * loaders on both (see the script). The staging disk is removed after.
 */
async function makeMdDisks(tree: string, file: string, mirrorFile: string, kernelVersion: string): Promise<void> {
  const dir = dirname(file);
  const fsOf = (mount: string) => SAMPLE_MD.partitions.find((p) => p.fs?.mount === mount)!.fs!;
  put(tree, 'etc/imgsrv-lab/md.sfdisk', sfdiskScript(SAMPLE_MD.partitions));
  // constants of this file, not input: safe to hand to the script as shell assignments
  put(tree, 'etc/imgsrv-lab/md.env', [
    `SERIAL_A=${SAMPLE_MD.serials[0]}`, `SERIAL_B=${SAMPLE_MD.serials[1]}`, `HOMEHOST=${DEBIAN_SAMPLE_HOSTNAME}`,
    `ROOT_UUID=${fsOf('/').uuid}`, `BOOT_UUID=${fsOf('/boot').uuid}`, `MD0_UUID=${SAMPLE_MD.arrays[0].uuid}`, `MD1_UUID=${SAMPLE_MD.arrays[1].uuid}`,
    `ESP_ID=${fsOf('/boot/efi').uuid.replace('-', '')}`, `SPARE_ESP_ID=${SAMPLE_MD.spareEspId.replace('-', '')}`, '',
  ].join('\n'));
  put(tree, 'usr/local/sbin/imgsrv-lab-md-build', readFileSync(join(FILES, 'md/imgsrv-lab-md-build'), 'utf8'), 0o755);
  // The arrays by their UUIDs (the script makes them with these), as the installer leaves mdadm.conf, and the
  // initramfs made again with them here, natively: under software emulation update-initramfs takes most of an hour.
  const conf = join(tree, 'etc/mdadm/mdadm.conf');
  writeFileSync(conf, `${existsSync(conf) ? readFileSync(conf, 'utf8').replace(/\n*$/, '\n') : ''}\n# definitions of existing MD arrays\n${SAMPLE_MD.arrays
    .map((a) => `ARRAY ${a.device} metadata=${a.metadata} UUID=${a.uuid} name=${DEBIAN_SAMPLE_HOSTNAME}:${a.device.slice('/dev/md'.length)}`)
    .join('\n')}\n`);
  await inChroot(tree, async (run) => {
    await run(['update-initramfs', '-u', '-k', 'all']);
  });
  const staging = join(dir, 'staging.raw');
  const stagingUuid = '5a3b1e00-0b5e-4a11-9c0d-000000057a9e';
  try {
    await sh('mkfs.ext4', ['-q', '-F', '-L', 'staging', '-U', stagingUuid, '-d', tree, staging, `${DISK_MIB}M`], { timeoutMs: 600_000 });
    for (const f of [file, mirrorFile]) await sh('truncate', ['-s', `${DISK_MIB}M`, f]);
    const lab = await Lab.create();
    try {
      const vm = await startVm(lab, {
        name: 'debmdbuild',
        firmware: 'bios',
        mac: DEBIAN_SAMPLE_MAC,
        kernel: join(tree, 'boot', `vmlinuz-${kernelVersion}`),
        initrd: join(tree, 'boot', `initrd.img-${kernelVersion}`),
        append: `console=ttyS0,115200n8 root=UUID=${stagingUuid} rw panic=-1 init=/usr/local/sbin/imgsrv-lab-md-build`,
        disk: staging,
        extraDisks: [{ file, bus: 'virtio', serial: SAMPLE_MD.serials[0] }, { file: mirrorFile, bus: 'virtio', serial: SAMPLE_MD.serials[1] }],
        serialLog: join(dir, 'md-build.serial.log'),
      });
      try {
        const m = await vm.waitFor(/imgsrv-lab-md-build: (done|FAILED.*)/, 2_400_000);
        if (m[1] !== 'done') throw new ImgsrvError('IO', `Debian md sample: ${m[1]}\n${vm.serial.split('\n').slice(-30).join('\n')}`, { hint: `serial log: ${join(dir, 'md-build.serial.log')}` });
        await vm.waitExit(60_000);
      } finally {
        await vm.stop();
      }
    } finally {
      await lab.destroy();
    }
  } finally {
    rmSync(staging, { force: true });
  }
}

/** Boot the disk once with its own kernel and the provisioning script as init: grub goes on from inside (see the script). */
async function provision(tree: string, disk: string, kernelVersion: string, root: string): Promise<void> {
  const lab = await Lab.create();
  try {
    const vm = await startVm(lab, {
      name: 'debprov',
      firmware: 'bios',
      mac: DEBIAN_SAMPLE_MAC,
      kernel: join(tree, 'boot', `vmlinuz-${kernelVersion}`),
      initrd: join(tree, 'boot', `initrd.img-${kernelVersion}`),
      append: `console=ttyS0,115200n8 root=${root} ro panic=-1 init=/usr/local/sbin/imgsrv-lab-provision`,
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

/** Copy the cached disk (or the md sample's second one) for one VM (sparse: a second, not the whole file). */
export async function copyDisk(sample: DebianSample, to: string, which: 'disk' | 'mirror' = 'disk'): Promise<string> {
  const from = which === 'mirror' ? sample.mirrorDisk : sample.disk;
  if (!from) throw new ImgsrvError('INTERNAL', `the Debian sample in ${sample.cacheDir} has no second disk`);
  await sh('cp', ['--sparse=always', '--reflink=auto', from, to], { timeoutMs: 120_000 });
  return to;
}
