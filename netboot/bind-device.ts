/**
 * SO_BINDTODEVICE for Node's UDP sockets. A DHCP server must hear broadcasts,
 * so it binds 0.0.0.0:67; without this, a multi-homed server would also
 * answer DHCP on its other networks. Node exposes no setsockopt, so we call
 * libc's through koffi (prebuilt FFI, nothing to compile).
 */
import type { Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import { ImgsrvError } from '../core/errors.ts';

const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25; // <asm-generic/socket.h>

type SetSockOpt = (fd: number, level: number, name: number, value: Buffer, len: number) => number;
type Errno = () => number;
let libc: { setsockopt: SetSockOpt; errno: Errno } | undefined;

function load(): { setsockopt: SetSockOpt; errno: Errno } {
  if (!libc) {
    const koffi = createRequire(import.meta.url)('koffi') as {
      load(name: string): { func(sig: string): (...args: unknown[]) => unknown };
      errno(): number;
    };
    const lib = koffi.load('libc.so.6');
    libc = {
      setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)') as SetSockOpt,
      errno: () => koffi.errno(),
    };
  }
  return libc;
}

/** The file descriptor of a bound dgram socket (Node keeps its handle behind a symbol). */
function socketFd(socket: Socket): number {
  for (const sym of Object.getOwnPropertySymbols(socket)) {
    const state = (socket as unknown as Record<symbol, { handle?: { fd?: number } }>)[sym];
    const fd = state?.handle?.fd;
    if (typeof fd === 'number' && fd >= 0) return fd;
  }
  throw new ImgsrvError('SOCKET', 'cannot find the file descriptor of a UDP socket', { hint: 'bind the socket first' });
}

/** Restrict a bound UDP socket to packets from (and routes through) one interface. */
export function bindToDevice(socket: Socket, ifname: string): void {
  if (!/^[^\s/]{1,15}$/.test(ifname)) throw new ImgsrvError('BAD_USAGE', `"${ifname}" is not an interface name`);
  const { setsockopt, errno } = load();
  const name = Buffer.from(`${ifname}\0`, 'utf8');
  if (setsockopt(socketFd(socket), SOL_SOCKET, SO_BINDTODEVICE, name, name.length) !== 0) {
    const e = errno();
    throw new ImgsrvError('SOCKET', `cannot bind a socket to interface ${ifname} (errno ${e})`, {
      hint: e === 1 ? 'run as root (needs CAP_NET_RAW)' : e === 19 ? `no interface named ${ifname}` : 'check the interface name',
    });
  }
}
