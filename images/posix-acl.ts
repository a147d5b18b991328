/**
 * POSIX ACLs in their two forms, pure: the kernel's xattr value
 * (`system.posix_acl_access` / `_default`, linux/posix_acl_xattr.h: a
 * little-endian u32 version 2, then 8-byte entries u16 tag, u16 perm, u32 id)
 * and the long text form of acl(5) that GNU tar and bsdtar store in
 * `SCHILY.acl.access` / `SCHILY.acl.default`. An image carries both: the raw
 * xattr restores exactly, the text is what `tar --acls` reads. Text is
 * written with numeric ids only: the sample host's user names mean nothing
 * on the node.
 */
import { ImgsrvError } from '../core/errors.ts';

const VERSION = 2;
const UNDEFINED_ID = 0xffffffff;
const USER_OBJ = 0x01;
const USER = 0x02;
const GROUP_OBJ = 0x04;
const GROUP = 0x08;
const MASK = 0x10;
const OTHER = 0x20;
const TAG_NAMES: Partial<Record<number, string>> = { [USER_OBJ]: 'user', [USER]: 'user', [GROUP_OBJ]: 'group', [GROUP]: 'group', [MASK]: 'mask', [OTHER]: 'other' };

/** The two ACLs: xattr name, pax keyword of the text form, kind. */
export const ACL_XATTRS = [
  ['system.posix_acl_access', 'SCHILY.acl.access', 'access'],
  ['system.posix_acl_default', 'SCHILY.acl.default', 'default'],
] as const;

const perms = (p: number): string => `${p & 4 ? 'r' : '-'}${p & 2 ? 'w' : '-'}${p & 1 ? 'x' : '-'}`;

/**
 * The text form of an ACL xattr, one entry per line as GNU tar writes it
 * ("user::rw-\nuser:1234:r--\n…"), or undefined when the value is not a
 * version 2 ACL (the raw xattr still travels).
 */
export function aclXattrToText(value: Buffer): string | undefined {
  if (value.length < 4 || (value.length - 4) % 8 !== 0 || value.readUInt32LE(0) !== VERSION) return undefined;
  let text = '';
  for (let off = 4; off < value.length; off += 8) {
    const tag = value.readUInt16LE(off);
    const name = TAG_NAMES[tag];
    if (!name) return undefined;
    const qualifier = tag === USER || tag === GROUP ? String(value.readUInt32LE(off + 4)) : '';
    text += `${name}:${qualifier}:${perms(value.readUInt16LE(off + 2))}\n`;
  }
  return text;
}

/**
 * The xattr value of an ACL in text form (entries separated by newlines or
 * commas, "#" comments, bsdtar's trailing ":<id>" field). Qualifiers must be
 * numeric ids, or names followed by an id; entries are sorted the way the
 * kernel requires. Returns undefined for an empty ACL, and for a minimal
 * access ACL (owner, group, other only): it says no more than the mode, and
 * the kernel keeps no xattr for it (GNU tar writes one for every file).
 */
export function aclTextToXattr(text: string, kind: 'access' | 'default', where: string): Buffer | undefined {
  const bad = (what: string): ImgsrvError => new ImgsrvError('IO', `${where}: ${what}`, { hint: 'the archive is corrupt' });
  const entries: Array<{ tag: number; perm: number; id: number }> = [];
  for (const raw of text.split(/[,\n]/)) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const f = line.split(':');
    const type = f[0];
    // "mask:rwx" and "other:r-x" may leave out the empty qualifier.
    if ((type === 'mask' || type === 'm' || type === 'other' || type === 'o') && f.length === 2) f.splice(1, 0, '');
    if (f.length < 3 || f.length > 4) throw bad(`bad ACL entry ${JSON.stringify(line.slice(0, 40))}`);
    const [, qualifier = '', permText = '', idText] = f;
    if (!/^[rwx-]{1,3}$/.test(permText) || new Set(permText.replace(/-/g, '')).size !== permText.replace(/-/g, '').length) throw bad(`bad ACL permissions ${JSON.stringify(permText)}`);
    const perm = (permText.includes('r') ? 4 : 0) | (permText.includes('w') ? 2 : 0) | (permText.includes('x') ? 1 : 0);
    let tag: number;
    switch (type) {
      case 'user': case 'u': tag = qualifier === '' ? USER_OBJ : USER; break;
      case 'group': case 'g': tag = qualifier === '' ? GROUP_OBJ : GROUP; break;
      case 'mask': case 'm': tag = MASK; break;
      case 'other': case 'o': tag = OTHER; break;
      default: throw bad(`bad ACL entry ${JSON.stringify(line.slice(0, 40))}`);
    }
    let id = UNDEFINED_ID;
    if (tag === USER || tag === GROUP) {
      const numeric = /^\d{1,10}$/.test(qualifier) ? qualifier : idText !== undefined && /^\d{1,10}$/.test(idText) ? idText : undefined;
      if (numeric === undefined) {
        throw new ImgsrvError('IO', `${where}: ACL entry names ${type} ${JSON.stringify(qualifier)} without a numeric id`, {
          hint: "an image restores ids, not names: make the archive with tar --xattrs --xattrs-include='*' so it carries the raw ACL",
        });
      }
      id = Number(numeric);
      if (id >= UNDEFINED_ID) throw bad(`ACL id ${numeric} out of range`);
    }
    entries.push({ tag, perm, id });
  }
  if (entries.length === 0) return undefined;
  if (kind === 'access' && entries.every((e) => e.tag === USER_OBJ || e.tag === GROUP_OBJ || e.tag === OTHER)) return undefined;
  entries.sort((a, b) => a.tag - b.tag || a.id - b.id);
  const out = Buffer.alloc(4 + 8 * entries.length);
  out.writeUInt32LE(VERSION, 0);
  entries.forEach((e, i) => {
    out.writeUInt16LE(e.tag, 4 + 8 * i);
    out.writeUInt16LE(e.perm, 6 + 8 * i);
    out.writeUInt32LE(e.id, 8 + 8 * i);
  });
  return out;
}
