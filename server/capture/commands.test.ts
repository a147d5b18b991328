import { describe, expect, it } from 'vitest';
import { planMounts, rebaseExcludes, rsyncArgs, sshExec, type SshSettings } from './commands.ts';
import { parseSource } from './source.ts';

const ssh: SshSettings = { knownHosts: '/var/lib/imgsrv/ssh/known_hosts', strictHostKeyChecking: 'accept-new', connectTimeoutSeconds: 10 };

describe('ssh and rsync argument vectors', () => {
  it('ssh: fixed options, -- before the host, the remote command as one argument', () => {
    const src = parseSource('198.18.0.10', { identity: '/k/id' });
    if (src.kind !== 'ssh') throw new Error('ssh source expected');
    const argv = sshExec(src, ssh, 'id -u');
    expect(argv[0]).toBe('ssh');
    expect(argv).toContain('BatchMode=yes');
    expect(argv).toContain('StrictHostKeyChecking=accept-new');
    expect(argv).toContain('UserKnownHostsFile=/var/lib/imgsrv/ssh/known_hosts');
    expect(argv.slice(-3)).toEqual(['--', '198.18.0.10', 'id -u']);
    expect(argv.slice(argv.indexOf('-i'), argv.indexOf('-i') + 2)).toEqual(['-i', '/k/id']);
  });

  it('a pinned capture: StrictHostKeyChecking=yes against its own known_hosts, in ssh and in rsync -e', () => {
    const src = parseSource('198.18.0.10');
    if (src.kind !== 'ssh') throw new Error('ssh source expected');
    const pinned: SshSettings = { ...ssh, knownHosts: '/var/lib/imgsrv/ssh/capture-Ab12/known_hosts', strictHostKeyChecking: 'yes' };
    const argv = sshExec(src, pinned, 'id -u');
    expect(argv).toContain('StrictHostKeyChecking=yes');
    expect(argv).not.toContain('StrictHostKeyChecking=accept-new');
    expect(argv).toContain('UserKnownHostsFile=/var/lib/imgsrv/ssh/capture-Ab12/known_hosts');
    // No system-wide file can add a key the pin did not.
    expect(argv).toContain('GlobalKnownHostsFile=/dev/null');
    const e = rsyncArgs({ source: src, ssh: pinned, plan: { mount: '/', nested: [] }, staging: '/d/s', excludes: [] });
    expect(e[e.indexOf('-e') + 1]).toContain('-o StrictHostKeyChecking=yes -o UserKnownHostsFile=/var/lib/imgsrv/ssh/capture-Ab12/known_hosts ');
    // A known_hosts path rsync's -e splitting would break is refused, not quoted.
    expect(() => sshExec(src, { ...pinned, knownHosts: '/tmp/a b/known_hosts' }, 'id')).toThrow(/without spaces/);
  });

  it('rsync over ssh: -aHAXS --numeric-ids, ns mtimes, --delete -x, excludes, -- before the source', () => {
    const argv = rsyncArgs({ source: parseSource('198.18.0.10'), ssh, plan: { mount: '/', nested: ['/boot', '/boot/efi'] }, staging: '/d/staging/s/', excludes: ['/proc/*', 'lost+found'] });
    expect(argv.slice(0, 7)).toEqual(['rsync', '-aHAXS', '--numeric-ids', '--modify-window=-1', '--delete', '--delete-during', '--one-file-system']);
    expect(argv).toContain('--exclude=/proc/*');
    expect(argv).toContain('--exclude=lost+found');
    expect(argv).toContain('--exclude=/boot/**');
    expect(argv.slice(-3)).toEqual(['--', '198.18.0.10:/', '/d/staging/s/']);
    // The remote shell is one -e string that rsync splits on spaces: none of its words may carry one.
    const e = argv[argv.indexOf('-e') + 1]!;
    expect(e.startsWith('ssh -o BatchMode=yes')).toBe(true);
  });

  it('a nested mount gets its own run with excludes rebased onto it', () => {
    const argv = rsyncArgs({ source: parseSource('h'), ssh, plan: { mount: '/boot', nested: ['/boot/efi'] }, staging: '/d/s', excludes: ['/boot/tmp/*', '/proc/*', '*.swp'] });
    expect(argv).toContain('--exclude=/tmp/*');
    expect(argv).not.toContain('--exclude=/proc/*');
    expect(argv).toContain('--exclude=*.swp');
    expect(argv).toContain('--exclude=/efi/**');
    expect(argv.slice(-3)).toEqual(['--', 'h:/boot/', '/d/s/boot/']);
    expect(rebaseExcludes(['/var/tmp/*', '/var'], '/var')).toEqual(['/tmp/*']);
  });

  it('rsync daemon sources use rsync:// with the port and no ssh', () => {
    const argv = rsyncArgs({ source: parseSource('rsync://h:8873/root'), ssh, plan: { mount: '/', nested: [] }, staging: '/d/s', excludes: [] });
    expect(argv).not.toContain('-e');
    expect(argv.slice(-3)).toEqual(['--', 'rsync://h:8873/root/', '/d/s/']);
  });

  it('plans one run per disk file system, parents first, skipping pseudo and excluded ones', () => {
    const plans = planMounts(
      [
        { mountpoint: '/', type: 'ext4' },
        { mountpoint: '/proc', type: 'proc' },
        { mountpoint: '/boot/efi', type: 'vfat' },
        { mountpoint: '/boot', type: 'ext4' },
        { mountpoint: '/home', type: 'xfs' },
        { mountpoint: '/tmp', type: 'ext4' },
        { mountpoint: '/run', type: 'tmpfs' },
      ],
      ['/tmp/*', '/proc/*'],
    );
    expect(plans).toEqual([
      { mount: '/', nested: ['/boot', '/home', '/boot/efi'] },
      { mount: '/boot', nested: ['/boot/efi'] },
      { mount: '/home', nested: [] },
      { mount: '/boot/efi', nested: [] },
    ]);
    expect(planMounts([], [])).toEqual([{ mount: '/', nested: [] }]);
  });
});
