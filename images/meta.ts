/**
 * meta.json of an image version: what was captured, from where, what the
 * restore must recreate around the files (partitions, file systems, boot),
 * and the artifact's size and checksum. Written by the server's capture,
 * read by the node's restore; strict so a typo or a newer format is an error
 * rather than a silently ignored field.
 */
import { z } from 'zod';
import { ImgsrvError } from '../core/errors.ts';

const nonNegInt = z.number().int().nonnegative();
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');

/** A file system on a partition, as the restore must recreate it. */
export const partitionFsSchema = z.strictObject({
  type: z.string().min(1),
  label: z.string().optional(),
  uuid: z.string().optional(),
  mountOptions: z.string().optional(),
  usedBytes: nonNegInt.optional(),
});

/** One partition: number, place, type (GPT type GUID or MBR id such as "83"), optional name, mount point and file system. */
export const partitionSchema = z.strictObject({
  number: z.number().int().positive(),
  startBytes: nonNegInt,
  sizeBytes: nonNegInt,
  type: z.string().min(1),
  name: z.string().optional(),
  mountpoint: z.string().optional(),
  fs: partitionFsSchema.optional(),
});

/** One disk of the sample host. */
export const diskSchema = z.strictObject({
  name: z.string().min(1),
  sizeBytes: nonNegInt,
  partitions: z.array(partitionSchema),
});

/** A mounted file system of the sample host (from /proc/mounts + fstab + df). */
export const filesystemSchema = z.strictObject({
  mountpoint: z.string().min(1),
  type: z.string().min(1),
  source: z.string(),
  label: z.string().optional(),
  uuid: z.string().optional(),
  options: z.string(),
  usedBytes: nonNegInt,
  sizeBytes: nonNegInt,
});

/** A swap area: a partition (by device, UUID, label) or a swap file. */
export const swapSchema = z.strictObject({
  kind: z.enum(['partition', 'file']),
  source: z.string().min(1),
  sizeBytes: nonNegInt,
  uuid: z.string().optional(),
  label: z.string().optional(),
});

/** A logical volume: name, size, lvm's layout and role words ("linear", "public"), and what it holds (fs type "swap" for swap). */
export const lvmLvSchema = z.strictObject({
  name: z.string().min(1),
  sizeBytes: nonNegInt,
  layout: z.string(),
  role: z.string(),
  mountpoint: z.string().optional(),
  fs: partitionFsSchema.optional(),
});

/** A physical volume: its device on the sample and, when it is a partition, which partition of which disk. */
export const lvmPvSchema = z.strictObject({
  device: z.string().min(1),
  sizeBytes: nonNegInt,
  disk: z.string().min(1).optional(),
  partition: z.number().int().positive().optional(),
});

/** A volume group with its extent size, PVs and LVs (captured from `lvm vgs/pvs/lvs`). */
export const lvmVgSchema = z.strictObject({
  name: z.string().min(1),
  extentBytes: z.number().int().positive(),
  sizeBytes: nonNegInt,
  pvs: z.array(lvmPvSchema),
  lvs: z.array(lvmLvSchema),
});

/** One member of an md array: its device on the sample and, when it is a partition, which partition of which disk. */
export const mdMemberSchema = z.strictObject({
  device: z.string().min(1),
  /** The member's role (slot) in the array, from mdadm; absent for spares and faulty members. */
  role: z.number().int().nonnegative().optional(),
  disk: z.string().min(1).optional(),
  partition: z.number().int().positive().optional(),
});

/** An md RAID array (from `mdadm --detail --export` and /proc/mdstat) and what it holds (fs type "LVM2_member" for a PV, "swap" for swap). */
export const mdArraySchema = z.strictObject({
  /** The kernel's device, /dev/mdN. */
  device: z.string().regex(/^\/dev\/md\d+$/, 'must be /dev/mdN'),
  /** Its name in the superblock ("host:0"), absent for metadata 0.90. */
  name: z.string().optional(),
  level: z.string().min(1),
  metadata: z.string().min(1),
  uuid: z.string().min(1),
  /** Active members the array is made of (mdadm's MD_DEVICES). */
  raidDevices: z.number().int().nonnegative(),
  /** The array's state as the kernel shows it ("clean", "active", "clean, degraded" …). */
  state: z.string(),
  /** Members mdadm lists; /proc/mdstat's [UU] says whether all are in sync. */
  members: z.array(mdMemberSchema),
  /** A member is missing or out of sync ("_" in /proc/mdstat, or "degraded" in the state). */
  degraded: z.boolean(),
  mountpoint: z.string().optional(),
  fs: partitionFsSchema.optional(),
});

/** A btrfs subvolume (`btrfs subvolume list -p -q`): id, parent's id (5 = the top level), path from the top level ("@home"), and the UUID of the subvolume it is a snapshot of. */
export const btrfsSubvolumeSchema = z.strictObject({
  id: z.number().int().positive(),
  parentId: z.number().int().positive(),
  path: z.string().min(1),
  snapshotOf: z.string().min(1).optional(),
});

/** A mount of a btrfs: where, which subvolume (its path from the top level, "" for the top level itself) and fstab's options (else the kernel's). */
export const btrfsMountSchema = z.strictObject({
  mountpoint: z.string().min(1),
  subvolume: z.string(),
  options: z.string(),
});

/** A btrfs file system of the sample: its devices, block-group profiles, subvolumes, default subvolume and mounts. */
export const btrfsFsSchema = z.strictObject({
  uuid: z.string().min(1),
  label: z.string().optional(),
  /** Its devices as /sys/fs/btrfs/<uuid>/devices names them ("sda3"). */
  devices: z.array(z.string().min(1)),
  /** Block-group profiles in use, "data:single", "metadata:dup" … (/sys/fs/btrfs/<uuid>/allocation). */
  profiles: z.array(z.string().min(1)),
  subvolumes: z.array(btrfsSubvolumeSchema),
  /** The default subvolume's id (`btrfs subvolume get-default`); 5 is the top level. */
  defaultId: z.number().int().positive(),
  mounts: z.array(btrfsMountSchema),
});

/** Facts about the sample host that the restore needs besides the files. */
export const hostFactsSchema = z.strictObject({
  partitionTable: z.enum(['gpt', 'mbr', 'none', 'unknown']),
  disks: z.array(diskSchema),
  filesystems: z.array(filesystemSchema),
  swap: z.array(swapSchema),
  bootMode: z.enum(['bios', 'uefi', 'unknown']),
  bootloader: z.enum(['grub', 'systemd-boot', 'extlinux', 'none', 'unknown']),
  kernels: z.array(z.string().min(1)),
  interfaces: z.array(z.strictObject({ name: z.string().min(1), mac: z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, 'must be a lowercase MAC address') })),
  os: z.strictObject({ id: z.string(), versionId: z.string(), prettyName: z.string() }).optional(),
  /** LVM volume groups (absent in images captured before imgsrv knew LVM, and on hosts without it). */
  lvm: z.strictObject({ vgs: z.array(lvmVgSchema) }).optional(),
  /** md RAID arrays (absent in images captured before imgsrv knew md, and on hosts without arrays). */
  md: z.strictObject({ arrays: z.array(mdArraySchema) }).optional(),
  /** btrfs file systems with their subvolumes (absent in images captured before imgsrv knew subvolumes, and on hosts without btrfs). */
  btrfs: z.array(btrfsFsSchema).optional(),
  /** What the image needs to boot under UEFI Secure Boot (absent in images captured before imgsrv looked). */
  secureBoot: z
    .strictObject({
      /** Debian's shim-signed and grub-efi-amd64-signed files, which the image's grub-install (present?) puts on the ESP. */
      shim: z.boolean(),
      signedGrub: z.boolean(),
      grubInstall: z.boolean(),
      /** Each /boot/vmlinuz-* and whether it carries an Authenticode signature (shim checks it against its keys). */
      kernels: z.array(z.strictObject({ file: z.string().min(1), signed: z.boolean() })),
    })
    .optional(),
});

/** The whole of meta.json. */
export const imageMetaSchema = z.strictObject({
  format: z.literal(1),
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i, 'must be 1-63 letters, digits, ".", "_" or "-"'),
  version: z.number().int().positive(),
  createdAt: z.iso.datetime({ offset: true }),
  sourceHost: z.string().min(1),
  /** How the server knew it talked to the right host (ssh captures; absent for rsync daemons and older images). */
  source: z
    .strictObject({
      /** The sample host's ssh host key, as `ssh-keygen -l` prints it. */
      hostKey: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'must be an OpenSSH SHA256 fingerprint'),
      hostKeyType: z.string().min(1),
      /** pinned: the operator gave the key; remembered: the key of earlier captures; first-use: accepted unseen. */
      hostKeyTrust: z.enum(['pinned', 'remembered', 'first-use']),
    })
    .optional(),
  host: hostFactsSchema,
  artifact: z.strictObject({
    file: z.literal('image.tar.zst'),
    rawBytes: nonNegInt,
    compressedBytes: nonNegInt,
    sha256,
    zstdLevel: z.number().int().min(1).max(22),
    files: nonNegInt,
  }),
  manifest: z.strictObject({ file: z.string().regex(/^[^/]+$/, 'must be a file name in the image directory'), sha256 }),
  /** The BitTorrent info dictionary written at pack time (absent in images from before the swarm; the server then derives it). */
  torrent: z
    .strictObject({
      file: z.literal('info.bencode'),
      infoHash: z.string().regex(/^[0-9a-f]{40}$/, 'must be 40 lowercase hex digits'),
      pieceLength: z.number().int().positive(),
      pieces: nonNegInt,
    })
    .optional(),
});

/** Parsed meta.json. */
export type ImageMeta = z.infer<typeof imageMetaSchema>;
/** Facts about the sample host (partitions, file systems, boot). */
export type HostFacts = z.infer<typeof hostFactsSchema>;
/** A captured LVM volume group. */
export type LvmVg = z.infer<typeof lvmVgSchema>;
/** A captured md RAID array. */
export type MdArray = z.infer<typeof mdArraySchema>;
/** A captured btrfs file system. */
export type BtrfsFs = z.infer<typeof btrfsFsSchema>;

/** The btrfs top level's subvolume id (BTRFS_FS_TREE_OBJECTID). */
export const BTRFS_TOP_LEVEL = 5;

/** The device-mapper name of an LV, as /dev/mapper shows it: hyphens in either name doubled, joined by one ("vg-0"/"root" → "vg--0-root"). */
export function dmName(vg: string, lv: string): string {
  return `${vg.replaceAll('-', '--')}-${lv.replaceAll('-', '--')}`;
}

/** Validate meta.json content; the first problem becomes an IO error naming its key path ("host.disks.0.sizeBytes"). */
export function parseImageMeta(json: unknown, source = 'meta.json'): ImageMeta {
  const res = imageMetaSchema.safeParse(json);
  if (res.success) return res.data;
  const issue = res.error.issues[0]!;
  const at = issue.path.map(String).join('.') || '(top level)';
  const detail = issue.code === 'unrecognized_keys' ? `unknown key ${issue.keys.map((k) => (at === '(top level)' ? k : `${at}.${k}`)).join(', ')}` : `${at}: ${issue.message}`;
  throw new ImgsrvError('IO', `bad ${source}: ${detail}`, { hint: 'the image metadata is damaged or from a newer imgsrv: capture the image again' });
}
