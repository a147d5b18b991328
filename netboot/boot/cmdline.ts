/**
 * The kernel command line for the netboot environment: everything the node
 * client needs (`imgsrv.server=`, `imgsrv.token=`, …). The line is parsed by
 * the kernel with no quoting we can rely on across loaders (iPXE, pxelinux),
 * so values are restricted to characters that need none.
 */
import { ImgsrvError } from '../../server/errors.ts';

/** What the node client learns at boot. */
export interface NodeBootParams {
  /** HTTP base URL of the server, e.g. http://198.18.0.1:8080 */
  server: string;
  /** The node-scope token (may only report), not the admin token. */
  token: string;
  /** The booting NIC's MAC, when the loader knows it (iPXE's ${mac}); pxelinux adds BOOTIF= itself. */
  mac?: string;
  /** The initrd's name as the loader registered it: Debian's iPXE under UEFI hands the initrd over only when the command line names it. */
  initrdName?: string;
  /** Extra arguments from the config (console=…), each one word. */
  extra?: readonly string[];
}

// Printable ASCII except space, quote characters and backslash.
const SAFE = /^[\x21\x23-\x26\x28-\x5b\x5d-\x7e]+$/;
// iPXE expands ${var}; a MAC passed as "${mac}" is the one intended use.
const IPXE_VAR = /^\$\{[a-z0-9:_-]+\}$/;

function word(name: string, value: string, allowIpxeVar = false): string {
  if (!(SAFE.test(value) || (allowIpxeVar && IPXE_VAR.test(value)))) {
    throw new ImgsrvError('BAD_CONFIG', `kernel command line value for ${name} contains a space, quote or control character`, {
      hint: 'use a value without spaces or quotes',
    });
  }
  if (!allowIpxeVar && value.includes('${')) {
    throw new ImgsrvError('BAD_CONFIG', `kernel command line value for ${name} contains "\${"`, { hint: 'iPXE would expand it; remove it' });
  }
  return value;
}

/** Build the kernel command line; throws on a value that would need quoting. */
export function buildKernelCmdline(p: NodeBootParams): string {
  const args: string[] = [];
  if (p.initrdName) args.push(`initrd=${word('initrd', p.initrdName)}`);
  args.push(`imgsrv.server=${word('server', p.server)}`, `imgsrv.token=${word('token', p.token)}`);
  if (p.mac) args.push(`imgsrv.mac=${word('mac', p.mac, true)}`);
  for (const e of p.extra ?? []) args.push(word('extra argument', e));
  return args.join(' ');
}
