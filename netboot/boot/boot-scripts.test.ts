import { describe, expect, it } from 'vitest';
import { buildKernelCmdline } from './cmdline.ts';
import { buildIpxeScript, buildLocalBootIpxeScript } from './ipxe.ts';
import { buildPxelinuxConfig, macFromPxelinuxPath } from './pxelinux.ts';
import { buildGrubConfig, buildGrubLocalBoot, GRUB_ENTRY_CONFIG, grubNodeConfigPath, macFromGrubPath } from './grub.ts';

const params = { server: 'http://198.18.0.1:8080', token: 'tok_-123', extra: ['console=ttyS0,115200'] };

describe('kernel command line', () => {
  it('carries what the node client needs', () => {
    expect(buildKernelCmdline({ ...params, mac: 'aa:bb:cc:dd:ee:ff' })).toBe(
      'imgsrv.server=http://198.18.0.1:8080 imgsrv.token=tok_-123 imgsrv.mac=aa:bb:cc:dd:ee:ff console=ttyS0,115200',
    );
  });

  it.each([' ', '"', "'", '\\', '\n', '\0', '${x}'])('refuses a value containing %j', (bad) => {
    expect(() => buildKernelCmdline({ ...params, token: `a${bad}b` })).toThrow(/kernel command line/);
    expect(() => buildKernelCmdline({ ...params, extra: [`quiet${bad}`] })).toThrow(/kernel command line/);
  });

  // Fuzz-found: iPXE reads these words as the end of the kernel command or a comment, so
  // extra: ['&&', 'shell'] ran an iPXE shell once the kernel loaded.
  it.each(['||', '&&', ';', '#', '#quiet'])('refuses an argument iPXE would read as syntax: %j', (word) => {
    expect(() => buildKernelCmdline({ ...params, extra: ['quiet', word, 'shell'] })).toThrow(/is iPXE syntax/);
  });

  it('refuses extra arguments that set its own keys (the node takes the last occurrence)', () => {
    for (const arg of ['imgsrv.server=http://198.18.0.99', 'imgsrv.token=x', 'imgsrv.mac=aa', 'initrd=evil.img', 'BOOTIF=01-aa']) {
      expect(() => buildKernelCmdline({ ...params, extra: [arg] }), arg).toThrow(/sets a key imgsrv sets itself/);
    }
    expect(buildKernelCmdline({ ...params, extra: ['imgsrv.debug', 'initrdmem=1'] })).toMatch(/ imgsrv\.debug initrdmem=1$/);
  });
});

describe('iPXE script', () => {
  const script = buildIpxeScript(
    { kernelUrl: 'http://198.18.0.1:8080/boot/files/vmlinuz', initrdUrl: 'http://198.18.0.1:8080/boot/files/initrd.img' },
    { ...params, mac: 'aa:bb:cc:dd:ee:ff' },
  );
  it('starts with the iPXE magic and names the initrd on the command line (UEFI quirk)', () => {
    expect(script.startsWith('#!ipxe\n')).toBe(true);
    expect(script).toMatch(/^kernel http:\/\/198\.18\.0\.1:8080\/boot\/files\/vmlinuz initrd=initrd\.img imgsrv\.server=\S+ imgsrv\.token=tok_-123 imgsrv\.mac=aa:bb:cc:dd:ee:ff /m);
    expect(script).toMatch(/^initrd --name initrd\.img http:\/\/198\.18\.0\.1:8080\/boot\/files\/initrd\.img \|\| goto retry$/m);
  });
  it('retries instead of falling through', () => {
    expect(script).toMatch(/^boot \|\| goto retry$/m);
    expect(script).toMatch(/^goto fetch$/m);
  });

  // Fuzz-found: the URLs went into script lines unchecked (a newline added a command, a NUL cut the line, a leading "-" became an option).
  it.each(['http://x/vmlinuz\nshell', 'http://x/vm linuz', 'http://x/vm\0linuz', 'http://x/${net0/ip}', '--timeout=1', '#x', '||'])('refuses the script URL %j', (url) => {
    expect(() => buildIpxeScript({ kernelUrl: url, initrdUrl: 'http://x/initrd.img' }, { ...params, mac: 'aa:bb:cc:dd:ee:ff' })).toThrow(/iPXE script URL for kernel/);
    expect(() => buildIpxeScript({ kernelUrl: 'http://x/vmlinuz', initrdUrl: url }, { ...params, mac: 'aa:bb:cc:dd:ee:ff' })).toThrow(/iPXE script URL for initrd/);
    expect(() => buildLocalBootIpxeScript('installed', url)).toThrow(/iPXE script URL for localboot\.efi/);
  });

  it('keeps the local-boot reason to plain words', () => {
    expect(buildLocalBootIpxeScript('a ${x} || shell\n#c', 'http://x/l.efi').split('\n')[1]).toBe('echo imgsrv: a x  shellc');
  });
});

describe('pxelinux config', () => {
  it('boots the environment with BOOTIF', () => {
    const cfg = buildPxelinuxConfig({ kernel: 'imgsrv/vmlinuz', initrd: 'imgsrv/initrd.img' }, { ...params, mac: 'aa:bb:cc:dd:ee:ff' });
    expect(cfg).toContain('KERNEL imgsrv/vmlinuz');
    expect(cfg).toContain('INITRD imgsrv/initrd.img');
    expect(cfg).toContain('APPEND imgsrv.server=http://198.18.0.1:8080 imgsrv.token=tok_-123 imgsrv.mac=aa:bb:cc:dd:ee:ff console=ttyS0,115200');
    expect(cfg).toContain('IPAPPEND 2');
  });
  it('refuses kernel and initrd paths that are not one word (INITRD takes a comma list)', () => {
    for (const bad of ['imgsrv/initrd.img,evil.img', 'a b', 'a\fAPPEND x', 'a\nLOCALBOOT 0']) {
      expect(() => buildPxelinuxConfig({ kernel: 'imgsrv/vmlinuz', initrd: bad }, { ...params, mac: 'aa:bb:cc:dd:ee:ff' }), bad).toThrow(/pxelinux initrd path/);
      expect(() => buildPxelinuxConfig({ kernel: bad, initrd: 'imgsrv/initrd.img' }, { ...params, mac: 'aa:bb:cc:dd:ee:ff' }), bad).toThrow(/pxelinux kernel path/);
    }
  });
  it('parses the MAC from the requested path', () => {
    expect(macFromPxelinuxPath('pxelinux.cfg/01-AA-bb-cc-dd-ee-ff')).toBe('aa:bb:cc:dd:ee:ff');
    expect(macFromPxelinuxPath('/pxelinux.cfg/01-aa-bb-cc-dd-ee-ff')).toBe('aa:bb:cc:dd:ee:ff');
    expect(macFromPxelinuxPath('pxelinux.cfg/C6120001')).toBeUndefined();
    expect(macFromPxelinuxPath('pxelinux.cfg/01-aa-bb-cc-dd-ee-ff/../x')).toBeUndefined();
  });
});

describe('signed GRUB configs (the Secure Boot path)', () => {
  const mac = 'aa:bb:cc:dd:ee:ff';
  it('reads the node config named by the MAC GRUB booted from', () => {
    expect(GRUB_ENTRY_CONFIG).toContain('source "$prefix/imgsrv-${net_default_mac}.cfg"');
    expect(grubNodeConfigPath('AA:BB:CC:DD:EE:FF')).toBe('grub/imgsrv-aa:bb:cc:dd:ee:ff.cfg');
    expect(macFromGrubPath('grub/imgsrv-AA:bb:cc:dd:ee:ff.cfg')).toBe(mac);
    expect(macFromGrubPath('/grub/imgsrv-aa:bb:cc:dd:ee:ff.cfg')).toBe(mac);
    expect(macFromGrubPath('grub/grub.cfg')).toBeUndefined();
    expect(macFromGrubPath('grub/imgsrv-aa:bb:cc:dd:ee:ff.cfg/../x')).toBeUndefined();
    expect(macFromGrubPath('grub/imgsrv-aa-bb-cc-dd-ee-ff.cfg')).toBeUndefined();
  });
  it('boots the environment with every argument single-quoted, BOOTIF included', () => {
    const cfg = buildGrubConfig({ kernel: 'imgsrv/vmlinuz', initrd: 'imgsrv/initrd.img' }, { ...params, mac });
    expect(cfg).toContain("linux /imgsrv/vmlinuz 'imgsrv.server=http://198.18.0.1:8080' 'imgsrv.token=tok_-123' 'imgsrv.mac=aa:bb:cc:dd:ee:ff' 'console=ttyS0,115200' 'BOOTIF=01-aa-bb-cc-dd-ee-ff'");
    expect(cfg).toContain('initrd /imgsrv/initrd.img');
    expect(cfg.trimEnd().split('\n').at(-1)).toBe('boot');
  });
  it('keeps GRUB syntax out of the paths and arguments', () => {
    for (const bad of ['imgsrv/$x', 'a;b', 'a b', "a'b", 'a\nboot', 'a{b}']) {
      expect(() => buildGrubConfig({ kernel: bad, initrd: 'imgsrv/initrd.img' }, { ...params, mac }), bad).toThrow(/GRUB kernel path|space, quote/);
    }
    // $ and ; are allowed in kernel arguments (the kernel may want them): single quotes keep GRUB from reading them
    const cfg = buildGrubConfig({ kernel: 'imgsrv/vmlinuz', initrd: 'imgsrv/initrd.img' }, { ...params, mac, extra: ['x=$y;z'] });
    expect(cfg).toContain("'x=$y;z'");
  });
  it("boots an installed node's disk through the fallback loader on its ESP, else says so and gives the machine back", () => {
    const cfg = buildGrubLocalBoot();
    expect(cfg).toContain('search --no-floppy --file --set=root /EFI/BOOT/BOOTX64.EFI\nchainloader /EFI/BOOT/BOOTX64.EFI\nboot\n');
    expect(cfg).toMatch(/\nexit\n$/);
  });
});
