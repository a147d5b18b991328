// buildNetboot against a small fake system root (a kernel, its config and a
// few modules), so the whole build runs in well under a second. The lab test
// (test/lab/qemu-initramfs.lab.test.ts) builds from the real Debian kernel and boots it.
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdDecompressSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { ImgsrvError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { generateSigningKey, keyIdOf } from '../../images/signing.ts';
import { buildNetboot, compareKernelVersions } from './build.ts';
import { decodeCpio } from './cpio.ts';
import { normaliseTrustedKeys, TRUSTED_KEYS_PATH } from './trusted-keys.ts';

const tmp = mkdtempSync(join(tmpdir(), 'imgsrv-build-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function fakeRoot(name: string, opts: { config?: string } = {}): string {
  const root = join(tmp, name);
  const put = (p: string, data: string | Buffer): void => {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), data);
  };
  for (const v of ['6.1.0-9-amd64', '6.1.0-10-amd64']) {
    put(`boot/vmlinuz-${v}`, `kernel ${v}`);
    put(`boot/config-${v}`, opts.config ?? 'CONFIG_RD_GZIP=y\nCONFIG_RD_ZSTD=y\n');
    const m = `lib/modules/${v}`;
    put(`${m}/modules.dep`, [
      'kernel/drivers/net/virtio_net.ko: kernel/drivers/virtio/virtio.ko',
      'kernel/drivers/virtio/virtio.ko:',
      'kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko',
      'kernel/drivers/net/ethernet/intel/e1000/e1000.ko:',
      'kernel/fs/ext4/ext4.ko:',
      '',
    ].join('\n'));
    put(`${m}/modules.alias`, 'alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci\nalias fs-ext4 ext4\n');
    for (const ko of ['net/virtio_net', 'virtio/virtio', 'virtio/virtio_pci', 'net/ethernet/intel/e1000/e1000']) put(`${m}/kernel/drivers/${ko}.ko`, `module ${ko}`);
    put(`${m}/kernel/fs/ext4/ext4.ko`, 'ext4');
  }
  put('bin/busybox', 'fake busybox');
  return root;
}

describe('buildNetboot', () => {
  const root = fakeRoot('sys');

  it('picks the newest kernel and packs busybox, /init, drivers and their dependencies', async () => {
    const out = join(tmp, 'out1');
    const r = await buildNetboot({ outDir: out, logger: silentLogger, sysroot: root, sourceDateEpoch: 1_700_000_000, runtime: false });
    expect(r.kernelVersion).toBe('6.1.0-10-amd64');
    expect(readFileSync(r.kernel, 'utf8')).toBe('kernel 6.1.0-10-amd64');
    expect(r.kernelBytes).toBe('kernel 6.1.0-10-amd64'.length);
    const initrd = readFileSync(r.initrd);
    expect(r.initrdBytes).toBe(initrd.length);
    expect(initrd.readUInt32LE(0)).toBe(0xfd2fb528); // zstd frame magic (RFC 8878 §3.1.1)
    const files = new Map(decodeCpio(zstdDecompressSync(initrd)).map((e) => [e.path, e]));
    expect(files.get('init')).toMatchObject({ type: 'file', mode: 0o755, mtime: 1_700_000_000, uid: 0 });
    expect(Buffer.from(files.get('init')?.data ?? []).toString()).toMatch(/imgsrv\.server=/);
    expect(files.get('bin/udhcpc')).toMatchObject({ type: 'symlink', target: 'busybox' });
    expect(files.get('dev/console')).toMatchObject({ type: 'char-device', major: 5, minor: 1 });
    const order = Buffer.from(files.get('etc/imgsrv/modules')?.data ?? []).toString().trim().split('\n');
    expect(order).toEqual([
      'kernel/drivers/virtio/virtio.ko',
      'kernel/drivers/virtio/virtio_pci.ko',
      'kernel/drivers/net/virtio_net.ko',
      'kernel/drivers/net/ethernet/intel/e1000/e1000.ko',
      'kernel/fs/ext4/ext4.ko',
    ]);
    for (const p of order) expect(files.has(`lib/modules/6.1.0-10-amd64/${p}`)).toBe(true);
    expect(files.has('lib/modules/6.1.0-10-amd64/kernel/drivers/virtio/virtio_blk.ko')).toBe(false);
    expect(Buffer.from(files.get('lib/modules/6.1.0-10-amd64/modules.alias')?.data ?? []).toString()).toBe(
      'alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci\nalias fs-ext4 ext4\n',
    );
    expect(r.compression).toBe('zstd-9');
    expect(r.cpioBytes).toBe(zstdDecompressSync(initrd).length);
    expect(r.largest.map((l) => l.path)).toContain('/init');
  });

  it('is reproducible: two builds give the same bytes', async () => {
    const a = await buildNetboot({ outDir: join(tmp, 'a'), logger: silentLogger, sysroot: root, sourceDateEpoch: 42, runtime: false });
    const b = await buildNetboot({ outDir: join(tmp, 'b'), logger: silentLogger, sysroot: root, sourceDateEpoch: 42, runtime: false });
    expect(b.sha256).toEqual(a.sha256);
    const c = await buildNetboot({ outDir: join(tmp, 'c'), logger: silentLogger, sysroot: root, sourceDateEpoch: 43, runtime: false });
    expect(c.sha256.initrd).not.toBe(a.sha256.initrd);
  });

  it('falls back to gzip when the kernel cannot unpack zstd', async () => {
    const r = await buildNetboot({ outDir: join(tmp, 'gz'), logger: silentLogger, sysroot: fakeRoot('gz', { config: 'CONFIG_RD_GZIP=y\n' }), runtime: false });
    expect(readFileSync(r.initrd).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  });

  it('fails with a hint when the kernel or a requested module is missing', async () => {
    const err = await buildNetboot({ outDir: join(tmp, 'x'), logger: silentLogger, sysroot: join(tmp, 'nothing'), runtime: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImgsrvError);
    expect((err as ImgsrvError).code).toBe('NETBOOT_BUILD');
    expect((err as ImgsrvError).hint).toBe('apt-get install linux-image-amd64');
    await expect(
      buildNetboot({ outDir: join(tmp, 'y'), logger: silentLogger, sysroot: root, modules: ['virtio_net', 'nope'], runtime: false }),
    ).rejects.toThrow(/no module nope/);
    await expect(buildNetboot({ outDir: join(tmp, 'z'), logger: silentLogger, sysroot: root, kernelVersion: '5.10.0-1-amd64', runtime: false })).rejects.toThrow(
      /kernel 5.10.0-1-amd64 not found/,
    );
  });
});

describe('trusted signing keys', () => {
  const root = fakeRoot('keys');
  const a = generateSigningKey();
  const b = generateSigningKey();
  const build = (name: string, trustedKeys?: string[]) =>
    buildNetboot({ outDir: join(tmp, name), logger: silentLogger, sysroot: root, sourceDateEpoch: 42, runtime: false, ...(trustedKeys ? { trustedKeys } : {}) });
  const shipped = (initrd: string) =>
    new Map(
      decodeCpio(zstdDecompressSync(readFileSync(initrd)))
        .filter((e) => e.path.startsWith(`${TRUSTED_KEYS_PATH}/`))
        .map((e) => [e.path, Buffer.from(e.data ?? []).toString()]),
    );

  it('ships each key once as /imgsrv/trusted-keys/<keyId>.pem, public half only, whatever the order', async () => {
    const ids = [keyIdOf(a.publicKey), keyIdOf(b.publicKey)].sort();
    // The private key where a public one belongs: only its public half may go in.
    const r = await build('k1', [b.publicKey, a.privateKey, a.publicKey]);
    expect(r.trustedKeys).toEqual(ids);
    const files = shipped(r.initrd);
    expect([...files.keys()]).toEqual(ids.map((id) => `${TRUSTED_KEYS_PATH}/${id}.pem`));
    expect(files.get(`${TRUSTED_KEYS_PATH}/${keyIdOf(a.publicKey)}.pem`)).toBe(a.publicKey);
    expect([...files.values()].join('')).not.toMatch(/PRIVATE/);
    const again = await build('k2', [a.publicKey, b.publicKey]);
    expect(again.sha256).toEqual(r.sha256);
  });

  it('ships none without keys, and a key changes the initramfs', async () => {
    const none = await build('k0');
    expect(none.trustedKeys).toEqual([]);
    expect(shipped(none.initrd).size).toBe(0);
    expect((await build('k3', [a.publicKey])).sha256.initrd).not.toBe(none.sha256.initrd);
  });

  it('refuses what is not an ed25519 public key, naming it', async () => {
    await expect(build('bad1', ['not a key'])).rejects.toMatchObject({ code: 'NETBOOT_BUILD', message: 'trusted key #1 is not a PEM public key' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => normaliseTrustedKeys([a.publicKey, rsa], ['a.pub', '/data/signing/rsa.pub'])).toThrow('/data/signing/rsa.pub is a rsa key, not ed25519');
  });
});

describe('compareKernelVersions', () => {
  it('orders ABI numbers numerically', () => {
    expect(['6.1.0-10-amd64', '6.1.0-9-amd64', '5.10.0-30-amd64'].sort(compareKernelVersions)).toEqual([
      '5.10.0-30-amd64',
      '6.1.0-9-amd64',
      '6.1.0-10-amd64',
    ]);
  });
});
