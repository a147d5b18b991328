import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TftpRoot, cleanName } from './root.ts';

describe('cleanName', () => {
  it('strips leading slashes, drops . and empty segments', () => {
    expect(cleanName('/pxelinux.0')).toEqual({ ok: true, name: 'pxelinux.0' });
    expect(cleanName('//a/./b//c')).toEqual({ ok: true, name: 'a/b/c' });
  });
  it.each([
    ['../etc/passwd', "'..'"],
    ['a/../../b', "'..'"],
    ['/..', "'..'"],
    ['a\\..\\b', 'backslash'],
    ['a\0b', 'NUL'],
    ['/', 'empty'],
    ['./', 'empty'],
  ])('refuses %j with access violation', (name, why) => {
    const r = cleanName(name);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe(2);
      expect(r.message).toContain(why);
    }
  });
  it("allows names that merely contain dots ('..foo', 'a..b')", () => {
    expect(cleanName('..foo')).toEqual({ ok: true, name: '..foo' });
    expect(cleanName('a..b/c')).toEqual({ ok: true, name: 'a..b/c' });
  });
});

describe('TftpRoot.openFile', () => {
  let dir: string;
  let root: TftpRoot;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tftproot-'));
    await mkdir(join(dir, 'root/sub'), { recursive: true });
    await writeFile(join(dir, 'root/sub/kernel'), 'KERNEL');
    await writeFile(join(dir, 'secret'), 'SECRET');
    await symlink('../secret', join(dir, 'root/escape'));
    await symlink(join(dir, 'secret'), join(dir, 'root/escape-abs'));
    await symlink('..', join(dir, 'root/updir'));
    await symlink('sub/kernel', join(dir, 'root/inside'));
    root = await TftpRoot.open(join(dir, 'root'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('opens a file under the root, with or without a leading slash', async () => {
    for (const name of ['sub/kernel', '/sub/kernel']) {
      const f = await root.openFile(name);
      expect(f.ok).toBe(true);
      if (f.ok) {
        expect(f.size).toBe(6);
        await f.handle.close();
      }
    }
  });
  it('follows a symlink that stays inside the root', async () => {
    const f = await root.openFile('inside');
    expect(f.ok && f.size).toBe(6);
    if (f.ok) await f.handle.close();
  });
  it.each(['escape', 'escape-abs', 'updir/secret'])('refuses symlink %s that resolves outside the root', async (name) => {
    expect(await root.openFile(name)).toMatchObject({ ok: false, code: 2, reason: 'outside-root' });
  });
  it('refuses .. before touching the file system', async () => {
    expect(await root.openFile('../secret')).toMatchObject({ ok: false, code: 2, reason: 'bad-name' });
  });
  it('reports a missing file as error 1 and a directory as not a file', async () => {
    expect(await root.openFile('nope')).toMatchObject({ ok: false, code: 1, reason: 'not-found' });
    expect(await root.openFile('sub/kernel/x')).toMatchObject({ ok: false, code: 1 });
    expect(await root.openFile('sub')).toMatchObject({ ok: false, reason: 'not-a-file' });
  });
});
