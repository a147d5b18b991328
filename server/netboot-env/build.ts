/**
 * Build the netboot environment: Debian's kernel (linux-image-amd64) plus an
 * initramfs holding static busybox, the NIC, storage and file-system drivers
 * with their dependencies (and the NICs' firmware), our /init, and (unless
 * `runtime: false`) Node 24 with the bundled client and the restore's tools,
 * and the public keys the node trusts to sign images. Same inputs give the
 * same bytes: entries are sorted, owned by root, stamped with one mtime, and
 * compressed in one thread.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readdir, readFile, mkdir, writeFile, rename, copyFile, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import type { Logger } from '../../core/log.ts';
import { ImgsrvError } from '../../core/errors.ts';
import { buildLocalBootEfi, LOCALBOOT_EFI } from './localboot.ts';
import { addParentDirs, encodeCpio, type CpioEntry } from './cpio.ts';
import { runtimeEntries } from './payload.ts';
import { normaliseTrustedKeys, trustedKeyEntries } from './trusted-keys.ts';
import { DEFAULT_FS_MODULES, DEFAULT_NIC_MODULES, DEFAULT_STORAGE_MODULES, moduleName, parseModulesDep, resolveModules, subsetModulesAlias, subsetModulesDep } from './modules.ts';

/** Options for `buildNetboot`. */
export interface BuildNetbootOptions {
  /** Where `vmlinuz` and `initrd.img` are written (created if missing). */
  outDir: string;
  /** Kernel release, e.g. "6.1.0-56-amd64"; default the newest /boot/vmlinuz-*. */
  kernelVersion?: string;
  /** Module names to ship (with dependencies); default NIC + storage + file-system drivers, skipping absent ones. */
  modules?: string[];
  logger: Logger;
  /** mtime of every initramfs entry (SOURCE_DATE_EPOCH); default 0. */
  sourceDateEpoch?: number;
  /** Root of the system to take kernel, modules and busybox from; default "/" (tests may point elsewhere). */
  sysroot?: string;
  /** Ship Node, the client bundle and the restore's tools (taken from this host); default true. */
  runtime?: boolean;
  /** Client entry point to bundle as /imgsrv/client.mjs; default initramfs-client/client/main.ts (else the swarm CLI). */
  clientEntry?: string;
  /** zstd level (1-19); default 9: level 19 saves 2% of the node binary at 10x the build time. */
  zstdLevel?: number;
  /**
   * ed25519 public keys (PEM) whose signatures the node accepts, shipped as
   * /imgsrv/trusted-keys/<keyId>.pem; with any, the node refuses unsigned or
   * badly signed images. Default none (signing not configured).
   */
  trustedKeys?: readonly string[];
}

/** What `buildNetboot` produced. */
export interface NetbootBuild {
  kernel: string;
  initrd: string;
  /** localboot.efi: chained by installed UEFI nodes to boot their disk. */
  localBoot: string;
  kernelVersion: string;
  kernelBytes: number;
  initrdBytes: number;
  /** The uncompressed cpio archive. */
  cpioBytes: number;
  compression: string;
  /** The client entry bundled, when the runtime is shipped, and the files (repo-relative) the bundle was made from. */
  clientEntry?: string;
  bundleInputs?: string[];
  /** Firmware files shipped for the drivers (paths under /lib/firmware). */
  firmware: string[];
  /** Ids of the keys the node trusts to sign images, sorted; empty when signing is off. */
  trustedKeys: string[];
  /** The largest files in the initramfs, biggest first (what dominates its size). */
  largest: { path: string; bytes: number }[];
  sha256: { kernel: string; initrd: string };
}

/** Busybox applets linked in /bin: what /init, the udhcpc script and a debug shell use. */
export const APPLETS: readonly string[] = [
  '[', 'awk', 'basename', 'cat', 'chmod', 'cp', 'cttyhack', 'cut', 'date', 'dirname', 'dmesg', 'echo', 'env', 'expr', 'false',
  'grep', 'head', 'hostname', 'ifconfig', 'insmod', 'ip', 'kill', 'less', 'ln', 'ls', 'lsmod', 'mkdir', 'mknod',
  'modprobe', 'mount', 'mv', 'nslookup', 'ping', 'poweroff', 'printf', 'ps', 'reboot', 'rm', 'route', 'sed', 'seq',
  'setsid', 'chroot', 'switch_root', 'pivot_root', 'mountpoint', 'stat', 'df', 'du', 'free', 'top', 'dd', 'find', 'xargs', 'touch',
  'readlink', 'realpath', 'id', 'clear', 'sh', 'sha256sum', 'sleep', 'sort', 'sync', 'tail', 'test', 'tftp', 'timeout', 'tr', 'true', 'udhcpc',
  'umount', 'uname', 'vi', 'wc', 'wget',
];

const INIT_DIR = new URL('../../initramfs-client/init/', import.meta.url);
const KERNEL_HINT = 'apt-get install linux-image-amd64';

/** Build kernel + initramfs into `outDir` and return their paths, sizes and hashes. */
export async function buildNetboot(opts: BuildNetbootOptions): Promise<NetbootBuild> {
  const root = opts.sysroot ?? '/';
  const log = opts.logger.child({ subsystem: 'netboot-build' });
  const ver = opts.kernelVersion ?? (await newestKernel(root));
  const kernelSrc = join(root, 'boot', `vmlinuz-${ver}`);
  const modDir = join(root, 'lib', 'modules', ver);
  await mustExist(kernelSrc, `kernel ${ver} not found at ${kernelSrc}`, KERNEL_HINT);
  await mustExist(join(modDir, 'modules.dep'), `modules of kernel ${ver} not found in ${modDir}`, KERNEL_HINT);
  const busybox = await readFile(join(root, 'bin', 'busybox')).catch((err: unknown) => {
    throw new ImgsrvError('NETBOOT_BUILD', 'busybox not found at /bin/busybox', { hint: 'apt-get install busybox-static', cause: err });
  });
  const compress = await pickCompression(join(root, 'boot', `config-${ver}`), opts.zstdLevel ?? 9);
  const runtime = opts.runtime ?? true;
  const trusted = normaliseTrustedKeys(opts.trustedKeys ?? []);

  const dep = parseModulesDep(await readFile(join(modDir, 'modules.dep'), 'utf8'));
  const { loadOrder, missing } = resolveModules(dep, opts.modules ?? [...DEFAULT_NIC_MODULES, ...DEFAULT_STORAGE_MODULES, ...DEFAULT_FS_MODULES]);
  if (missing.length > 0 && opts.modules) {
    throw new ImgsrvError('NETBOOT_BUILD', `kernel ${ver} has no module ${missing.join(', ')}`, { hint: 'check the names with `modinfo <name>`' });
  }
  // Built into Debian's kernel (efivarfs, sd_mod…) or not built at all: nothing to ship.
  if (missing.length > 0) log.debug({ missing }, 'modules not in this kernel, skipped');
  const rt = runtime ? await runtimeEntries({ ...(opts.clientEntry ? { clientEntry: opts.clientEntry } : {}) }, log) : undefined;
  // On a merged-/usr host /lib is a symlink to usr/lib: modules and firmware go to the real directory.
  const libDir = rt?.entries.some((e) => e.path === 'lib' && e.type === 'symlink' && e.target === 'usr/lib') ? 'usr/lib' : 'lib';
  const mods = `${libDir}/modules/${ver}`;
  const firmware = await firmwareFor(root, modDir, loadOrder.filter((p) => DEFAULT_NIC_MODULES.includes(moduleName(p))));
  if (firmware.length > 0) log.info({ firmware }, 'firmware shipped');

  const entries: CpioEntry[] = [
    { path: 'bin/busybox', type: 'file', mode: 0o755, data: busybox },
    ...APPLETS.map((a): CpioEntry => ({ path: `bin/${a}`, type: 'symlink', mode: 0o777, target: 'busybox' })),
    { path: 'sbin', type: 'symlink', mode: 0o777, target: 'bin' },
    { path: 'init', type: 'file', mode: 0o755, data: await readFile(new URL('init.sh', INIT_DIR)) },
    { path: 'etc/imgsrv/udhcpc.script', type: 'file', mode: 0o755, data: await readFile(new URL('udhcpc.script', INIT_DIR)) },
    // /init loads these in order when it can't match devices to drivers by modalias.
    { path: 'etc/imgsrv/modules', type: 'file', mode: 0o644, data: Buffer.from(loadOrder.map((p) => `${p}\n`).join('')) },
    // The kernel opens /dev/console for /init before anything can mount devtmpfs.
    { path: 'dev/console', type: 'char-device', mode: 0o600, major: 5, minor: 1 },
    { path: 'dev/null', type: 'char-device', mode: 0o666, major: 1, minor: 3 },
    ...['proc', 'sys', 'run', 'var', 'root'].map((d): CpioEntry => ({ path: d, type: 'dir', mode: 0o755 })),
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    ...(rt?.entries ?? []),
    ...trustedKeyEntries(trusted),
    // /init modprobes these unconditionally: disks may sit behind any storage driver.
    { path: 'etc/imgsrv/boot-modules', type: 'file', mode: 0o644, data: Buffer.from(loadOrder.filter(loadAtBoot).map((p) => `${moduleName(p)}\n`).join('')) },
    { path: `${mods}/modules.dep`, type: 'file', mode: 0o644, data: Buffer.from(subsetModulesDep(dep, loadOrder)) },
    {
      path: `${mods}/modules.alias`,
      type: 'file',
      mode: 0o644,
      data: Buffer.from(subsetModulesAlias(await readFile(join(modDir, 'modules.alias'), 'utf8').catch(() => ''), loadOrder)),
    },
  ];
  // Modules stay as shipped: this kernel loads .ko (and .ko.xz with CONFIG_MODULE_DECOMPRESS) as they are.
  for (const p of loadOrder) entries.push({ path: `${mods}/${p}`, type: 'file', mode: 0o644, data: await readFile(join(modDir, p)) });
  for (const f of firmware) entries.push({ path: `${libDir}/firmware/${f}`, type: 'file', mode: 0o644, data: await readFile(join(root, 'lib/firmware', f)) });

  const cpio = encodeCpio(addParentDirs(entries), { mtime: opts.sourceDateEpoch ?? 0 });
  const initrdData = compress.fn(cpio);
  const largest = entries
    .filter((e) => e.type === 'file')
    .map((e) => ({ path: `/${e.path}`, bytes: e.data?.length ?? 0 }))
    .sort((a, b) => b.bytes - a.bytes || (a.path < b.path ? -1 : 1))
    .slice(0, 5);
  log.info({ trustedKeys: trusted.map((k) => k.keyId) }, trusted.length > 0 ? 'nodes will refuse images not signed by these keys' : 'no trusted keys: nodes will not check image signatures');
  log.info({ kernelVersion: ver, modules: loadOrder.length, cpioBytes: cpio.length, initrdBytes: initrdData.length, compression: compress.name }, 'initramfs built');

  await mkdir(opts.outDir, { recursive: true });
  const kernel = join(opts.outDir, 'vmlinuz');
  const initrd = join(opts.outDir, 'initrd.img');
  await copyFile(kernelSrc, `${kernel}.tmp`);
  await rename(`${kernel}.tmp`, kernel);
  await writeFile(`${initrd}.tmp`, initrdData);
  await rename(`${initrd}.tmp`, initrd);
  // What installed UEFI nodes chain instead of the netboot environment (see localboot.ts).
  const localBoot = join(opts.outDir, LOCALBOOT_EFI);
  await writeFile(`${localBoot}.tmp`, await buildLocalBootEfi());
  await rename(`${localBoot}.tmp`, localBoot);
  const kernelData = await readFile(kernel);
  return {
    kernel,
    initrd,
    localBoot,
    kernelVersion: ver,
    kernelBytes: kernelData.length,
    initrdBytes: initrdData.length,
    cpioBytes: cpio.length,
    compression: compress.name,
    ...(rt ? { clientEntry: rt.clientEntry, bundleInputs: rt.bundleInputs } : {}),
    firmware,
    trustedKeys: trusted.map((k) => k.keyId),
    largest,
    sha256: { kernel: sha256(kernelData), initrd: sha256(initrdData) },
  };
}

const execFileP = promisify(execFile);

function loadAtBoot(p: string): boolean {
  return DEFAULT_STORAGE_MODULES.includes(moduleName(p)) || DEFAULT_FS_MODULES.includes(moduleName(p));
}

/** The firmware files `modinfo -F firmware` names for these modules that exist under <root>/lib/firmware, sorted. */
async function firmwareFor(root: string, modDir: string, modules: readonly string[]): Promise<string[]> {
  const out = new Set<string>();
  for (const m of modules) {
    const r = await execFileP('modinfo', ['-F', 'firmware', join(modDir, m)]).catch(() => ({ stdout: '' }));
    for (const f of r.stdout.split('\n').map((l) => l.trim()).filter(Boolean)) {
      if (await stat(join(root, 'lib/firmware', f)).then((s) => s.isFile(), () => false)) out.add(f);
    }
  }
  return [...out].sort();
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function mustExist(path: string, message: string, hint: string): Promise<void> {
  try {
    await stat(path);
  } catch (err) {
    throw new ImgsrvError('NETBOOT_BUILD', message, { hint, cause: err });
  }
}

/** Compare kernel releases numerically part by part ("6.1.0-10" < "6.1.0-9" is wrong as strings). */
export function compareKernelVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = Number(x);
    const ny = Number(y);
    const c = x !== '' && y !== '' && !isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}

async function newestKernel(root: string): Promise<string> {
  const files = await readdir(join(root, 'boot')).catch(() => [] as string[]);
  const versions = files.filter((f) => f.startsWith('vmlinuz-')).map((f) => f.slice('vmlinuz-'.length));
  const newest = versions.sort(compareKernelVersions).at(-1);
  if (!newest) throw new ImgsrvError('NETBOOT_BUILD', `no kernel found in ${join(root, 'boot')}`, { hint: KERNEL_HINT });
  return newest;
}

/**
 * Pick the initramfs compression this kernel can unpack (CONFIG_RD_*). zstd
 * levels up to 19 keep a window of at most 8 MiB, well under the kernel's
 * 128 MiB limit (lib/decompress_unzstd.c); one thread keeps the output deterministic.
 */
async function pickCompression(configPath: string, level: number): Promise<{ name: string; fn: (b: Buffer) => Buffer }> {
  const config = await readFile(configPath, 'utf8').catch(() => '');
  const zc = zlib.constants;
  const zstd = { name: `zstd-${level}`, fn: (b: Buffer) => zlib.zstdCompressSync(b, { params: { [zc.ZSTD_c_compressionLevel]: level, [zc.ZSTD_c_checksumFlag]: 1 } }) };
  // Node's gzip writes a zero header mtime and a fixed OS byte: reproducible too.
  const gzip = { name: 'gzip', fn: (b: Buffer) => zlib.gzipSync(b, { level: 9 }) };
  if (/^CONFIG_RD_ZSTD=y$/m.test(config)) {
    // zstd joined zlib in Node 22.15/23.8; an older runtime (e.g. a system Node 20 running vitest) lacks it.
    if (typeof zlib.zstdCompressSync !== 'function') {
      throw new ImgsrvError('NETBOOT_BUILD', `Node ${process.version} has no zstd in node:zlib`, { hint: "run with the project's Node 24 (node_modules/.bin/node)" });
    }
    return zstd;
  }
  if (/^CONFIG_RD_GZIP=y$/m.test(config) || config === '') return gzip;
  throw new ImgsrvError('NETBOOT_BUILD', `kernel config ${configPath} has neither CONFIG_RD_ZSTD nor CONFIG_RD_GZIP`, { hint: KERNEL_HINT });
}
