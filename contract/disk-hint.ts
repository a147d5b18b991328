/**
 * Target disk hints, after Ironic's root device hints: which disk a node
 * restores onto, by facts that stay put across reboots and kernels (a name
 * like sda does not). Set per deployment, group or node; the server checks a
 * hint when it is saved, the node applies it. Every key given must match;
 * a hint that matches no disk stops the node before anything is written
 * (it never falls back to another disk).
 *
 *   serial=S4EWNX0R123456            the disk's serial number
 *   wwn=0x5002538e4a1b2c3d            its world-wide name (naa./eui. prefixes and 0x optional)
 *   model=Samsung*                    model, case-insensitive, * matches any run of characters
 *   size=480G  size=>=1T  size=100G-2T   exact (±1 %), at least / at most, or a range; K M G T (10^3 …)
 *   path=0000:00:17.0/ata2            a fragment of the disk's sysfs device path (bus position)
 *   rotational=0                      SSD/NVMe (0) or spinning (1)
 *   name=nvme0n1                      the kernel name (least stable)
 * A bare value without "=" is the older form: a kernel name, /dev path, serial or WWN.
 */

/** A parsed hint; every field given must match. */
export interface DiskHint {
  /** The bare value of the older form: name, /dev path, serial or WWN. */
  any?: string;
  name?: string;
  serial?: string;
  wwn?: string;
  model?: string;
  minBytes?: number;
  maxBytes?: number;
  path?: string;
  rotational?: boolean;
}

/** The facts a hint is matched against (initramfs-client/restore/disks.ts DiskInfo has them all). */
export interface HintedDisk {
  name: string;
  path: string;
  sizeBytes: number;
  model: string;
  serial: string;
  wwid: string;
  rotational: boolean;
  sysPath: string;
}

const UNITS: Record<string, number> = { '': 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15 };
const VALUE = /^[A-Za-z0-9/._:*+-]+$/;

function bytes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGTP]?)B?$/i.exec(v);
  if (!m) throw new Error(`size "${v}" is not a size like 480G or 1.5T`);
  return Math.round(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!);
}

/** Parse a hint; throws an Error saying what is wrong (callers wrap it in their own error type). */
export function parseDiskHint(raw: string): DiskHint {
  const text = raw.trim();
  if (text === '') throw new Error('the disk hint is empty');
  if (!text.includes('=')) {
    if (!VALUE.test(text)) throw new Error(`disk hint "${text.slice(0, 40)}" has characters a disk name, serial or WWN can't have`);
    return { any: text };
  }
  const hint: DiskHint = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`disk hint part "${part.slice(0, 40)}" is not key=value`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key !== 'size' && !VALUE.test(value)) throw new Error(`disk hint ${key}= has an empty value or characters it can't have`);
    switch (key) {
      case 'name': hint.name = value.replace(/^\/dev\//, ''); break;
      case 'serial': hint.serial = value; break;
      case 'wwn': hint.wwn = normWwn(value); break;
      case 'model': hint.model = value; break;
      case 'path': hint.path = value; break;
      case 'rotational':
        if (value !== '0' && value !== '1') throw new Error('disk hint rotational= is 0 (SSD/NVMe) or 1 (spinning)');
        hint.rotational = value === '1';
        break;
      case 'size': {
        const range = /^(.+?)-(.+)$/.exec(value);
        if (value.startsWith('>=')) hint.minBytes = bytes(value.slice(2));
        else if (value.startsWith('<=')) hint.maxBytes = bytes(value.slice(2));
        else if (range) [hint.minBytes, hint.maxBytes] = [bytes(range[1]!), bytes(range[2]!)];
        else {
          // Vendors round: an exact size matches within 1 %.
          const b = bytes(value);
          [hint.minBytes, hint.maxBytes] = [Math.floor(b * 0.99), Math.ceil(b * 1.01)];
        }
        if (hint.minBytes !== undefined && hint.maxBytes !== undefined && hint.minBytes > hint.maxBytes) throw new Error(`disk hint size=${value}: the range is empty`);
        break;
      }
      default:
        throw new Error(`disk hint key "${key.slice(0, 20)}" is unknown (serial, wwn, model, size, path, rotational, name)`);
    }
  }
  return hint;
}

/** Whether `raw` is a valid hint; the problem when it isn't. */
export function diskHintProblem(raw: string): string | undefined {
  try {
    parseDiskHint(raw);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function normWwn(v: string): string {
  return v.toLowerCase().replace(/^wwn-/, '').replace(/^(naa|eui|t10)\./, '').replace(/^0x/, '');
}

function glob(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`, 'i');
  return re.test(value.trim());
}

/** Whether disk `d` matches every key of `hint`. */
export function matchesDiskHint(d: HintedDisk, hint: DiskHint): boolean {
  if (hint.any !== undefined) {
    const r = hint.any;
    const w = normWwn(r);
    const ok = d.name === r || d.path === r || `/dev/${d.name}` === r || (d.serial !== '' && d.serial === r) || (d.wwid !== '' && (d.wwid === r || normWwn(d.wwid) === w));
    if (!ok) return false;
  }
  if (hint.name !== undefined && d.name !== hint.name) return false;
  if (hint.serial !== undefined && d.serial !== hint.serial) return false;
  if (hint.wwn !== undefined && (d.wwid === '' || normWwn(d.wwid) !== hint.wwn)) return false;
  if (hint.model !== undefined && !glob(hint.model, d.model)) return false;
  if (hint.minBytes !== undefined && d.sizeBytes < hint.minBytes) return false;
  if (hint.maxBytes !== undefined && d.sizeBytes > hint.maxBytes) return false;
  if (hint.path !== undefined && !d.sysPath.includes(hint.path)) return false;
  if (hint.rotational !== undefined && d.rotational !== hint.rotational) return false;
  return true;
}
