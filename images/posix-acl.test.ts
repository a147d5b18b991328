import { describe, expect, it } from 'vitest';
import { aclTextToXattr, aclXattrToText } from './posix-acl.ts';
import { ImgsrvError } from '../core/errors.ts';

// What `setfacl -m u:1234:rwx,g:5678:r-x` leaves in system.posix_acl_access (getfattr -e base64).
const KERNEL = Buffer.from('AgAAAAEABwD/////AgAHANIEAAAEAAUA/////wgABQAuFgAAEAAHAP////8gAAUA/////w==', 'base64');
const TEXT = 'user::rwx\nuser:1234:rwx\ngroup::r-x\ngroup:5678:r-x\nmask::rwx\nother::r-x\n';

describe('POSIX ACL forms', () => {
  it('turns the kernel xattr into the text GNU tar writes, and back to the same bytes', () => {
    expect(aclXattrToText(KERNEL)).toBe(TEXT);
    expect(aclTextToXattr(TEXT, 'access', 'x')).toEqual(KERNEL);
  });

  it("reads bsdtar's form (commas, names with a trailing id, any order) and comments", () => {
    const text = 'other::r-x,mask::rwx,group:staff:r-x:5678 # effective\nuser:alice:rwx:1234,user::rwx,group::r-x';
    expect(aclTextToXattr(text, 'access', 'x')).toEqual(KERNEL);
  });

  it('refuses a name without an id, and bad entries, as ImgsrvError', () => {
    expect(() => aclTextToXattr('user::rw-,user:alice:r--,group::r--,mask::r--,other::---', 'access', 'x')).toThrow(/names user "alice" without a numeric id/);
    for (const t of ['user::rwz', 'user::rw-:x:y:z', 'nobody::rwx', 'user::rrw']) expect(() => aclTextToXattr(t, 'access', 'x'), t).toThrow(ImgsrvError);
  });

  it('leaves out a minimal access ACL (the mode says it all) but keeps a minimal default one', () => {
    expect(aclTextToXattr('user::rwx\ngroup::r-x\nother::r-x\n', 'access', 'x')).toBeUndefined();
    expect(aclTextToXattr('user::rwx\ngroup::r-x\nother::r-x\n', 'default', 'x')?.length).toBe(4 + 3 * 8);
    expect(aclTextToXattr('', 'default', 'x')).toBeUndefined();
  });

  it('gives no text for a value that is not a version 2 ACL', () => {
    expect(aclXattrToText(Buffer.from([1, 0, 0, 0]))).toBeUndefined();
    expect(aclXattrToText(KERNEL.subarray(0, 10))).toBeUndefined();
  });
});
