/**
 * What the node client learns from the kernel command line (written by the
 * server's iPXE script or pxelinux config, see netboot/boot/cmdline.ts) and
 * from /init's environment.
 */
import { readFileSync } from 'node:fs';
import { ImgsrvError } from '../../core/errors.ts';
import { normalizeMac } from '../../core/mac.ts';

/** The client's boot parameters. */
export interface BootParams {
  /** http://server[:port] */
  server: string;
  /** Node-scope token: may report and read its plan, nothing else. */
  token: string;
  /** MAC of the NIC the node booted from. */
  mac: string;
  /** console= arguments, carried into the restored system's boot entry so its console is where the operator looks. */
  consoleArgs: string[];
  debug: boolean;
  /** Address and interface /init configured by DHCP (IMGSRV_IP / IMGSRV_IFACE), when known. */
  ip?: string | undefined;
  iface?: string | undefined;
}

/** Split a kernel command line into key → value (the last occurrence wins; `console` keeps all). */
export function parseCmdline(line: string): { args: Map<string, string>; consoles: string[] } {
  const args = new Map<string, string>();
  const consoles: string[] = [];
  for (const word of line.trim().split(/\s+/)) {
    if (!word) continue;
    const eq = word.indexOf('=');
    const key = eq < 0 ? word : word.slice(0, eq);
    const value = eq < 0 ? '' : word.slice(eq + 1);
    if (key === 'console') consoles.push(word);
    args.set(key, value);
  }
  return { args, consoles };
}

/** Read the boot parameters; throws BAD_USAGE naming what is missing. */
export function readBootParams(cmdline = readFileSync('/proc/cmdline', 'utf8'), env: NodeJS.ProcessEnv = process.env): BootParams {
  const { args, consoles } = parseCmdline(cmdline);
  const server = args.get('imgsrv.server');
  const token = args.get('imgsrv.token');
  // pxelinux's IPAPPEND 2 gives BOOTIF=01-aa-bb-…; iPXE gives imgsrv.mac=aa:bb:….
  const rawMac = args.get('imgsrv.mac') ?? args.get('BOOTIF')?.replace(/^01-/, '') ?? env.IMGSRV_MAC;
  const mac = rawMac ? normalizeMac(rawMac) : undefined;
  const missing = [!server && 'imgsrv.server', !token && 'imgsrv.token', !mac && 'imgsrv.mac (or BOOTIF)'].filter(Boolean);
  if (missing.length) {
    throw new ImgsrvError('BAD_USAGE', `the kernel command line lacks ${missing.join(', ')}`, { hint: 'boot the node through imgsrv (its iPXE script or pxelinux config sets them)' });
  }
  if (!/^https?:\/\/[^\s/]+$/.test(server!)) throw new ImgsrvError('BAD_USAGE', `imgsrv.server=${server} is not an http:// base URL`);
  return {
    server: server!,
    token: token!,
    mac: mac!,
    consoleArgs: consoles,
    debug: args.has('imgsrv.debug'),
    ip: env.IMGSRV_IP || undefined,
    iface: env.IMGSRV_IFACE || undefined,
  };
}
