/**
 * A sample host for capture tests: its own network namespace and its own
 * root tree (a small Debian made with debootstrap, cached in .cache/, or,
 * when debootstrap cannot run, a tree of this machine's sshd + rsync and
 * their libraries), running sshd in a chroot with root login by key.
 * Mounts (proc, sys, a small /dev) are made before sshd starts and undone
 * by `stop()`, also after a failure.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { sh, stopChild, type Lab, type LabHost } from './netns.ts';
import { REPO } from './imgsrv.ts';

const CACHE = join(REPO, '.cache');
/** The Debian tree, built once (about 35 s and 240 MB) and reused by every run. */
export const DEBIAN_TREE = join(CACHE, 'sample-bookworm');
const MIRROR = 'http://deb.debian.org/debian';
const INCLUDE = 'openssh-server,rsync,iproute2,acl,attr,util-linux,mount';

/** A running sample host. */
export interface SampleHost {
  host: LabHost;
  address: string;
  /** The host's root tree (a bind mount of itself, so it is a mount point like a real root). */
  root: string;
  /** Private key accepted for root. */
  key: string;
  /** A key the host does not accept. */
  wrongKey: string;
  /** 'debootstrap' or 'minimal': which tree this is. */
  kind: 'debootstrap' | 'minimal';
  sshd: ChildProcess;
  /** Stop sshd, undo the mounts, delete the tree (only once nothing is mounted in it). */
  stop(): Promise<void>;
}

/** The cached Debian tree, building it when missing; undefined when debootstrap is unavailable or fails. */
export async function ensureDebianTree(): Promise<string | undefined> {
  if (existsSync(join(DEBIAN_TREE, 'usr', 'sbin', 'sshd'))) return DEBIAN_TREE;
  if (!existsSync('/usr/sbin/debootstrap')) return undefined;
  const partial = `${DEBIAN_TREE}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(CACHE, { recursive: true });
  try {
    await sh('debootstrap', ['--variant=minbase', `--include=${INCLUDE}`, 'bookworm', partial, MIRROR], { timeoutMs: 900_000 });
    renameSync(partial, DEBIAN_TREE);
    return DEBIAN_TREE;
  } catch (err) {
    process.stderr.write(`sample-host: debootstrap failed, using the minimal tree: ${(err as Error).message.split('\n')[0]}\n`);
    rmSync(partial, { recursive: true, force: true });
    return undefined;
  }
}

/** A minimal root: this machine's sshd, rsync, a shell and the probe's tools, each with its libraries (from ldd). */
export function buildMinimalTree(root: string): void {
  const bins = ['/usr/sbin/sshd', '/usr/bin/rsync', '/bin/sh', '/bin/bash', '/usr/bin/id', '/bin/ls', '/bin/cat', '/usr/bin/env', '/usr/bin/df', '/bin/lsblk', '/bin/findmnt', '/sbin/blkid', '/sbin/ip', '/usr/bin/test'];
  const files = new Set<string>();
  for (const b of bins.filter((x) => existsSync(x))) {
    files.add(b);
    const out = execFileSync('ldd', [b], { encoding: 'utf8' });
    for (const m of out.matchAll(/(\/[^\s]+) \(0x/g)) files.add(m[1]!);
  }
  for (const f of files) {
    const to = join(root, f);
    mkdirSync(dirname(to), { recursive: true });
    cpSync(f, to, { dereference: true });
  }
  for (const d of ['etc/ssh', 'root', 'proc', 'sys', 'dev', 'run', 'tmp', 'var/empty', 'var/log']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\nnobody:x:65534:65534::/:/usr/sbin/nologin\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  writeFileSync(join(root, 'etc/os-release'), 'ID=imgsrv-minimal\nVERSION_ID=1\nPRETTY_NAME="imgsrv minimal sample"\n');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(root, 'etc/ssh/ssh_host_ed25519_key')]);
}

const mounted = (path: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === path);

/** Start a sample host named `name` at `cidr` (e.g. 198.18.0.10/24) on the lab's bridge. */
export async function startSampleHost(lab: Lab, opts: { name?: string; cidr: string }): Promise<SampleHost> {
  const work = mkdtempSync(join(tmpdir(), 'imgsrv-sample-'));
  const root = join(work, 'root');
  const mounts: string[] = [];
  let sshd: ChildProcess | undefined;
  const stop = async () => {
    if (sshd) await stopChild(sshd);
    for (const m of mounts.splice(0).reverse()) {
      await sh('umount', [m]).catch(() => sh('umount', ['-l', m]).catch(() => undefined));
    }
    // Never delete through a mount that is still there (it could be the real /dev or /sys).
    if (![root, `${root}/proc`, `${root}/sys`, `${root}/dev`].some(mounted)) rmSync(work, { recursive: true, force: true });
  };
  try {
    const tree = await ensureDebianTree();
    if (tree) await sh('cp', ['-a', tree, root], { timeoutMs: 120_000 });
    else buildMinimalTree(root);
    const kind = tree ? 'debootstrap' : 'minimal';

    const key = join(work, 'id_ed25519');
    const wrongKey = join(work, 'wrong_ed25519');
    await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'imgsrv-lab', '-f', key]);
    await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'imgsrv-lab-wrong', '-f', wrongKey]);
    mkdirSync(join(root, 'root/.ssh'), { recursive: true, mode: 0o700 });
    writeFileSync(join(root, 'root/.ssh/authorized_keys'), readFileSync(`${key}.pub`), { mode: 0o600 });
    chmodSync(join(root, 'root'), 0o700);
    // sshd appends to these on every login; without them the tree stays as captured (sshd does not create them).
    for (const f of ['var/log/wtmp', 'var/log/btmp', 'var/log/lastlog']) rmSync(join(root, f), { force: true });

    // The root as a mount point of its own, then proc, sys and a small /dev inside it.
    await sh('mount', ['--bind', root, root]);
    mounts.push(root);
    await sh('mount', ['-t', 'proc', 'proc', `${root}/proc`]);
    mounts.push(`${root}/proc`);
    await sh('mount', ['-t', 'sysfs', 'sysfs', `${root}/sys`]);
    mounts.push(`${root}/sys`);
    await sh('mount', ['-t', 'tmpfs', '-o', 'mode=755,size=1m', 'sampledev', `${root}/dev`]);
    mounts.push(`${root}/dev`);
    for (const [n, maj, min] of [['null', 1, 3], ['zero', 1, 5], ['random', 1, 8], ['urandom', 1, 9], ['tty', 5, 0]] as const) {
      await sh('mknod', ['-m', '666', `${root}/dev/${n}`, 'c', String(maj), String(min)]);
    }
    mkdirSync(join(root, 'run/sshd'), { recursive: true, mode: 0o755 });
    mkdirSync(join(root, 'run/imgsrv-lab'), { recursive: true });
    const address = opts.cidr.split('/')[0]!;
    writeFileSync(
      join(root, 'run/imgsrv-lab/sshd_config'),
      [
        `ListenAddress ${address}`,
        'Port 22',
        'HostKey /etc/ssh/ssh_host_ed25519_key',
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'AuthorizedKeysFile .ssh/authorized_keys',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'UseDNS no',
        'PrintMotd no',
        'PrintLastLog no',
        'PidFile none',
        'MaxStartups 20',
        'Subsystem sftp internal-sftp',
        '',
      ].join('\n'),
    );

    const host = await lab.addHost(opts.name ?? 'sample', opts.cidr);
    sshd = host.spawn('chroot', [root, '/usr/sbin/sshd', '-D', '-e', '-f', '/run/imgsrv-lab/sshd_config'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    sshd.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    sshd.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`sshd did not start in 15 s:\n${log}`)), 15_000);
      const check = () => {
        if (log.includes('Server listening')) {
          clearTimeout(timer);
          ok();
        }
      };
      sshd!.stderr!.on('data', check);
      sshd!.once('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`sshd exited with ${code}:\n${log}`));
      });
    });
    return { host, address, root, key, wrongKey, kind, sshd, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
