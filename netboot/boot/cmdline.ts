/**
 * The kernel command line for the netboot environment: everything the node
 * client needs (`imgsrv.server=`, `imgsrv.token=`, …). The line is parsed by
 * the kernel with no quoting we can rely on across loaders (iPXE, pxelinux),
 * so values are restricted to characters that need none; and since iPXE
 * reads it as part of a script line, no word may be iPXE syntax either.
 */
import { ImgsrvError } from '../../core/errors.ts';

/** What the node client learns at boot. */
export interface NodeBootParams {
  /** HTTP base URL of the server, e.g. http://198.18.0.1:8080 */
  server: string;
  /** The node-scope token (may only report), not the admin token. */
  token: string;
  /** The node's MAC, the one its token speaks for (pxelinux adds BOOTIF= itself too; the client prefers this). */
  mac?: string;
  /** The initrd's name as the loader registered it: Debian's iPXE under UEFI hands the initrd over only when the command line names it. */
  initrdName?: string;
  /** Extra arguments from the config (console=…), each one word. */
  extra?: readonly string[];
}

// Printable ASCII except space, quote characters and backslash.
const SAFE = /^[\x21\x23-\x26\x28-\x5b\x5d-\x7e]+$/;
// iPXE's exec.c ends a command at a word "||", "&&" or ";" and starts a comment at a word beginning with "#":
// as a kernel argument such a word would end the kernel command and run (or drop) what follows.
const IPXE_SYNTAX = /^(?:\|\||&&|;|#.*)$/;
// Keys this line sets itself: the client takes the last occurrence (boot-params.ts), so an extra argument must not repeat one.
const OWN_KEYS = /^(?:imgsrv\.server|imgsrv\.token|imgsrv\.mac|initrd|BOOTIF)(?:=|$)/;

/**
 * Check one word that goes into a boot script or command line: printable
 * ASCII without spaces, quotes or backslashes, no iPXE expansion ("${"),
 * not iPXE syntax. Returns it; throws BAD_CONFIG naming `name`.
 */
export function bootWord(name: string, value: string, opts: { what?: string; refuse?: { re: RegExp; why: string } } = {}): string {
  const what = opts.what ?? `kernel command line value for ${name}`;
  const fail = (why: string, hint: string): never => {
    throw new ImgsrvError('BAD_CONFIG', `${what} ${why}`, { hint });
  };
  if (opts.refuse?.re.test(value)) fail(opts.refuse.why, 'change the value');
  if (!SAFE.test(value)) fail('contains a space, quote or control character', 'use a value without spaces or quotes');
  if (value.includes('${')) fail('contains "${"', 'iPXE would expand it; remove it');
  if (IPXE_SYNTAX.test(value)) fail(`is iPXE syntax (${JSON.stringify(value.slice(0, 20))})`, 'iPXE would read it as the end of a command or a comment; remove it');
  return value;
}

/** Check one extra kernel argument (config `boot.kernelArgs`, a group's kernel arguments); returns it or throws BAD_CONFIG. */
export function checkKernelArg(arg: string): string {
  return bootWord('extra argument', arg, { refuse: { re: OWN_KEYS, why: `${JSON.stringify(arg.slice(0, 40))} sets a key imgsrv sets itself (remove it from boot.kernelArgs or the group's kernel arguments)` } });
}

/** Build the kernel command line; throws on a value that would need quoting or would change the line's meaning. */
export function buildKernelCmdline(p: NodeBootParams): string {
  const args: string[] = [];
  if (p.initrdName) args.push(`initrd=${bootWord('initrd', p.initrdName)}`);
  args.push(`imgsrv.server=${bootWord('server', p.server)}`, `imgsrv.token=${bootWord('token', p.token)}`);
  if (p.mac) args.push(`imgsrv.mac=${bootWord('mac', p.mac)}`);
  for (const e of p.extra ?? []) args.push(checkKernelArg(e));
  return args.join(' ');
}
