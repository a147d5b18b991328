/**
 * Kernel-module bookkeeping for the netboot initramfs, as pure functions over
 * the text of `modules.dep` / `modules.alias` (depmod's output format, see
 * depmod(8)): which files to ship for a list of drivers, in which order to
 * load them, and the matching subsets of both files for busybox modprobe.
 */

/** Drivers shipped by default: common server NICs, enough to reach the server without storage. */
export const DEFAULT_NIC_MODULES: readonly string[] = [
  'virtio_pci',
  'virtio_net',
  'e1000',
  'e1000e',
  'igb',
  'ixgbe',
  'i40e',
  'mlx5_core',
  'bnxt_en',
  'tg3',
  'r8169',
];

/** Storage drivers: virtio, SATA/AHCI, NVMe, SAS/RAID HBAs, USB disks, device-mapper (LVM layouts), md RAID1; /init loads them all. */
export const DEFAULT_STORAGE_MODULES: readonly string[] = [
  'virtio_blk',
  'virtio_scsi',
  'sd_mod',
  'sr_mod',
  'ahci',
  'ata_piix',
  'nvme',
  'megaraid_sas',
  'mpt3sas',
  'xhci_pci',
  'ehci_pci',
  'usb_storage',
  'uas',
  // no device has dm-mod's modalias: /init loads it with the rest, and devtmpfs then makes /dev/mapper/control for lvm
  'dm_mod',
  // md RAID1 layouts: no device has their modalias either; mdadm --create needs both loaded (no kmod autoload without modprobe's aliases)
  'md_mod',
  'raid1',
];

/**
 * File systems the restore makes and mounts, plus the code pages vfat mounts ask for.
 * crc32c first: libcrc32c (xfs) and ext4 only soft-depend on it (modinfo softdep),
 * which busybox modprobe ignores, and libcrc32c fails to load without it.
 */
export const DEFAULT_FS_MODULES: readonly string[] = ['crc32c_generic', 'crc32c_intel', 'ext4', 'xfs', 'btrfs', 'vfat', 'nls_ascii', 'nls_cp437', 'nls_iso8859_1', 'nls_utf8', 'efivarfs'];

/** `modules.dep` as a map from module path (relative to /lib/modules/<ver>) to its dependencies' paths. */
export type ModulesDep = Map<string, string[]>;

/** The module name of a path: basename without `.ko[.xz|.zst|.gz]`, with '-' folded to '_' as the kernel does. */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replaceAll('-', '_');
}

/** Parse `modules.dep` ("path: dep dep …" per line). */
export function parseModulesDep(text: string): ModulesDep {
  const dep: ModulesDep = new Map();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const deps = line.slice(colon + 1).trim();
    dep.set(line.slice(0, colon).trim(), deps ? deps.split(/\s+/) : []);
  }
  return dep;
}

/** What `resolveModules` found: files to ship in load order, and the names it could not find. */
export interface ResolvedModules {
  /** Module paths, every dependency before the modules that need it. */
  loadOrder: string[];
  missing: string[];
}

/**
 * Resolve module names to their files plus every dependency, ordered so that
 * `insmod` in sequence never meets an unknown symbol (depth-first post-order;
 * ties broken by the order of the request, then of modules.dep, so the result
 * is deterministic).
 */
export function resolveModules(dep: ModulesDep, names: readonly string[]): ResolvedModules {
  const byName = new Map<string, string>();
  for (const path of dep.keys()) byName.set(moduleName(path), path);
  const loadOrder: string[] = [];
  const missing: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (path: string): void => {
    if (state.get(path) === 'done' || state.get(path) === 'visiting') return; // depmod forbids cycles; be safe
    state.set(path, 'visiting');
    for (const d of dep.get(path) ?? []) visit(d);
    state.set(path, 'done');
    loadOrder.push(path);
  };
  for (const name of names) {
    const path = byName.get(name.replaceAll('-', '_'));
    if (path) visit(path);
    else missing.push(name);
  }
  return { loadOrder, missing };
}

/** The lines of `modules.dep` for the shipped modules only, so busybox modprobe works in the initramfs. */
export function subsetModulesDep(dep: ModulesDep, shipped: readonly string[]): string {
  return shipped.map((p) => `${p}:${(dep.get(p) ?? []).map((d) => ` ${d}`).join('')}\n`).join('');
}

/** The `alias … <module>` lines of `modules.alias` that name a shipped module, in their original order. */
export function subsetModulesAlias(aliasText: string, shipped: readonly string[]): string {
  const names = new Set(shipped.map(moduleName));
  return aliasText
    .split('\n')
    .filter((line) => {
      const m = /^alias\s+\S+\s+(\S+)$/.exec(line);
      return m !== null && names.has(m[1]!.replaceAll('-', '_'));
    })
    .map((line) => `${line}\n`)
    .join('');
}
