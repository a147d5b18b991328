import { describe, expect, it } from 'vitest';
import { buildKernelCmdline } from './cmdline.ts';
import { buildIpxeScript } from './ipxe.ts';
import { buildPxelinuxConfig, macFromPxelinuxPath } from './pxelinux.ts';

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
});

describe('iPXE script', () => {
  const script = buildIpxeScript(
    { kernelUrl: 'http://198.18.0.1:8080/boot/files/vmlinuz', initrdUrl: 'http://198.18.0.1:8080/boot/files/initrd.img' },
    params,
  );
  it('starts with the iPXE magic and names the initrd on the command line (UEFI quirk)', () => {
    expect(script.startsWith('#!ipxe\n')).toBe(true);
    expect(script).toMatch(/^kernel http:\/\/198\.18\.0\.1:8080\/boot\/files\/vmlinuz initrd=initrd\.img imgsrv\.server=\S+ imgsrv\.token=tok_-123 imgsrv\.mac=\$\{mac\} /m);
    expect(script).toMatch(/^initrd --name initrd\.img http:\/\/198\.18\.0\.1:8080\/boot\/files\/initrd\.img \|\| goto retry$/m);
  });
  it('retries instead of falling through', () => {
    expect(script).toMatch(/^boot \|\| goto retry$/m);
    expect(script).toMatch(/^goto fetch$/m);
  });
});

describe('pxelinux config', () => {
  it('boots the environment with BOOTIF', () => {
    const cfg = buildPxelinuxConfig({ kernel: 'imgsrv/vmlinuz', initrd: 'imgsrv/initrd.img' }, params);
    expect(cfg).toContain('KERNEL imgsrv/vmlinuz');
    expect(cfg).toContain('INITRD imgsrv/initrd.img');
    expect(cfg).toContain('APPEND imgsrv.server=http://198.18.0.1:8080 imgsrv.token=tok_-123 console=ttyS0,115200');
    expect(cfg).toContain('IPAPPEND 2');
  });
  it('parses the MAC from the requested path', () => {
    expect(macFromPxelinuxPath('pxelinux.cfg/01-AA-bb-cc-dd-ee-ff')).toBe('aa:bb:cc:dd:ee:ff');
    expect(macFromPxelinuxPath('/pxelinux.cfg/01-aa-bb-cc-dd-ee-ff')).toBe('aa:bb:cc:dd:ee:ff');
    expect(macFromPxelinuxPath('pxelinux.cfg/C6120001')).toBeUndefined();
    expect(macFromPxelinuxPath('pxelinux.cfg/01-aa-bb-cc-dd-ee-ff/../x')).toBeUndefined();
  });
});
