// The udhcpc event script against real interfaces: in a private network
// namespace (unshare -n, gone when the shell exits) on one end of a veth pair,
// with busybox's applets first in PATH as in the initramfs. iproute2's
// `ip monitor address` is the oracle: a renewal, a repeated bound and a lost
// lease must not remove or re-add the address the client is downloading over.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const execFileP = promisify(execFile);
const SCRIPT = new URL('./udhcpc.script', import.meta.url).pathname;
const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('udhcpc.script', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'imgsrv-udhcpc-'));
    await mkdir(join(tmp, 'bin'));
    for (const a of ['sh', 'ip', 'cut', 'grep', 'mv', 'mkdir', 'cat', 'rm']) await symlink('/bin/busybox', join(tmp, 'bin', a));
  });
  afterAll(() => rm(tmp, { recursive: true, force: true }));

  /** Run `steps` (sh) in a fresh network namespace with veth d0 up; `ev EVENT [VAR=…]` runs the script. */
  async function inNetns(steps: string): Promise<string> {
    const prog = [
      'set -e',
      '/usr/sbin/ip link add d0 type veth peer name d1; /usr/sbin/ip link set d1 up; /usr/sbin/ip link set d0 up',
      `export PATH=${tmp}/bin interface=d0 IMGSRV_RUN_DIR=${tmp}/run IMGSRV_ETC_DIR=${tmp} IMGSRV_CONSOLE=${tmp}/console`,
      `ev() { e=$1; shift; env "$@" sh ${SCRIPT} "$e"; }`,
      'monitor() { /usr/sbin/ip -o monitor address > $1 2>&1 & MON=$!; sleep 0.3; }',
      'stop() { sleep 0.3; kill $MON; wait $MON || true; }',
      steps,
    ].join('\n');
    const { stdout } = await execFileP('unshare', ['-n', '/bin/busybox', 'sh', '-c', prog], { timeout: 20_000 });
    return stdout;
  }

  const lease = 'ip=198.18.0.100 mask=24 router=198.18.0.1 dns=198.18.0.1 serverid=198.18.0.1 lease=20';

  it('binds, then keeps the address and the route through renew, a repeated bound and a lost lease', async () => {
    const out = await inNetns(
      [
        'ev deconfig',
        `ev bound ${lease}`,
        'echo "== bound"; ip -4 addr show dev d0; ip route',
        `monitor ${tmp}/mon1`,
        `ev renew ${lease}`,
        `ev bound ${lease}`,
        'ev deconfig',
        'stop',
        'echo "== after"; ip -4 addr show dev d0; ip route',
        `monitor ${tmp}/mon2`,
        `ev bound ${lease.replace('0.100', '0.101')}`,
        'stop',
        'echo "== moved"; ip -4 addr show dev d0; ip route',
      ].join('\n'),
    );
    const [, bound, after, moved] = out.split(/^== /m);
    expect(bound).toMatch(/inet 198\.18\.0\.100\/24 /);
    expect(bound).toMatch(/default via 198\.18\.0\.1 dev d0/);
    // Nothing happened to the address while renewing or after the lease ran out.
    expect(await readFile(join(tmp, 'mon1'), 'utf8')).toBe('');
    expect(after).toMatch(/inet 198\.18\.0\.100\/24 /);
    expect(after).toMatch(/default via 198\.18\.0\.1 dev d0/);
    // A different address does replace the old one (and the console says so).
    expect(await readFile(join(tmp, 'mon2'), 'utf8')).toMatch(/Deleted .*198\.18\.0\.100/);
    expect(moved).toMatch(/inet 198\.18\.0\.101\/24 /);
    expect(moved).not.toMatch(/198\.18\.0\.100/);
    expect(moved).toMatch(/default via 198\.18\.0\.1 dev d0/);
    const console = await readFile(join(tmp, 'console'), 'utf8');
    expect(console).toMatch(/bound to 198\.18\.0\.100\/24/);
    expect(console).toMatch(/lost its lease; keeping 198\.18\.0\.100/);
    expect(console).toMatch(/bound to 198\.18\.0\.101\/24/);
    expect(await readFile(join(tmp, 'run', 'lease'), 'utf8')).toBe('IP=198.18.0.101\nMASK=24\nROUTER=198.18.0.1\nSERVERID=198.18.0.1\nLEASE=20\n');
    expect(await readFile(join(tmp, 'resolv.conf'), 'utf8')).toBe('nameserver 198.18.0.1\n');
    expect(await readFile(join(tmp, 'run', 'dhcp.log'), 'utf8')).toMatch(/renew 198\.18\.0\.100 lease 20/);
  });

  it('flushes on deconfig before the first lease (a stale address from the PXE ROM is not kept)', async () => {
    await rm(join(tmp, 'run'), { recursive: true, force: true });
    const out = await inNetns(['ip addr add 198.18.0.7/24 dev d0', 'ev deconfig', 'echo "== addr"; ip -4 addr show dev d0'].join('\n'));
    expect(out.split('== addr')[1]).not.toMatch(/inet /);
  });
});
