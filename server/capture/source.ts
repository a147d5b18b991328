/**
 * What to capture from: an ssh host or an rsync daemon module. Everything a
 * user types ends up in an rsync or ssh argument vector, so it is validated
 * here once: a host that could be read as an option (`-oProxyCommand=…`) or
 * that carries shell syntax (`x;rm -rf /`) never gets past this file.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ImgsrvError } from '../../core/errors.ts';

/** A validated capture source. */
export type CaptureSource =
  | { kind: 'ssh'; host: string; user: string; port: number; identity?: string | undefined }
  | { kind: 'rsyncd'; host: string; port: number; module: string; path: string };

// RFC 1123 host names: letters, digits and inner hyphens per label; no label may start with '-'.
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
// POSIX portable user names (useradd's rule), never starting with '-'.
const USER = /^[a-z_][a-z0-9_-]{0,31}$/;
// rsync daemon module names: no '/', no leading '-' or '.'.
const MODULE = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}$/;
/** Paths we put inside rsync's `-e` string, which rsync splits on spaces and quotes. */
const SAFE_PATH = /^\/[A-Za-z0-9_./+@,=:-]*$/;

/** Validate a host name or IP literal (IPv6 with or without brackets); returns it in the form rsync/ssh expect. */
export function validateHost(raw: string): string {
  const host = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  if (isIPv4(host) || isIPv6(host) || HOSTNAME.test(host)) return host;
  throw new ImgsrvError('BAD_USAGE', `"${printable(raw)}" is not a host name or IP address`, {
    hint: 'give a DNS name (letters, digits, dots, hyphens) or an IPv4/IPv6 address',
  });
}

/** Validate a remote user name. */
export function validateUser(raw: string): string {
  if (USER.test(raw)) return raw;
  throw new ImgsrvError('BAD_USAGE', `"${printable(raw)}" is not a user name`, { hint: 'use a plain login name such as root' });
}

/** Validate a TCP port. */
export function validatePort(raw: number | string): number {
  const n = typeof raw === 'number' ? raw : /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (Number.isInteger(n) && n >= 1 && n <= 65535) return n;
  throw new ImgsrvError('BAD_USAGE', `"${printable(String(raw))}" is not a port number`, { hint: 'use 1-65535' });
}

/** Validate a path that goes into rsync's `-e` ssh command (absolute, no spaces or quotes). */
export function validateSafePath(raw: string, what: string): string {
  if (SAFE_PATH.test(raw) && !raw.split('/').includes('..')) return raw;
  throw new ImgsrvError('BAD_USAGE', `${what} "${printable(raw)}" must be an absolute path without spaces, quotes or ".."`, {
    hint: 'move the file to a plain path',
  });
}

/** Default image name for a host: lowercase, with characters outside the name alphabet turned into '-'. */
export function defaultImageName(source: CaptureSource): string {
  const base = source.kind === 'rsyncd' ? `${source.host}-${source.module}` : source.host;
  const name = base.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^[^a-z0-9]+/, '').replace(/\.+$/, '').slice(0, 63);
  return name || 'image';
}

/** Parse what the user typed (`HOST`, `[v6]`, `rsync://host[:port]/module[/path]`) plus ssh options. */
export function parseSource(spec: string, opts: { user?: string | undefined; port?: number | undefined; identity?: string | undefined } = {}): CaptureSource {
  if (spec.startsWith('rsync://')) {
    const m = /^rsync:\/\/(\[[^\]]+\]|[^/:]+)(?::(\d+))?\/([^/]+)(\/.*)?$/.exec(spec);
    if (!m) {
      throw new ImgsrvError('BAD_USAGE', `"${printable(spec)}" is not an rsync URL`, { hint: 'use rsync://HOST[:PORT]/MODULE[/PATH]' });
    }
    const module = m[3]!;
    if (!MODULE.test(module)) throw new ImgsrvError('BAD_USAGE', `"${printable(module)}" is not an rsync module name`, { hint: 'use letters, digits, "_", "-", "."' });
    const path = m[4] ?? '/';
    if (path.split('/').includes('..') || /[\0\n\r]/.test(path)) {
      throw new ImgsrvError('BAD_USAGE', `rsync path "${printable(path)}" may not contain ".."`, { hint: 'name a path inside the module' });
    }
    return { kind: 'rsyncd', host: validateHost(m[1]!), port: m[2] ? validatePort(m[2]) : 873, module, path };
  }
  if (spec.includes('://')) throw new ImgsrvError('BAD_USAGE', `unsupported source "${printable(spec)}"`, { hint: 'give HOST (ssh) or rsync://HOST/MODULE' });
  let host = spec;
  let user = opts.user;
  const at = spec.lastIndexOf('@');
  if (at > 0) {
    user = user ?? spec.slice(0, at);
    host = spec.slice(at + 1);
  }
  return {
    kind: 'ssh',
    host: validateHost(host),
    user: validateUser(user ?? 'root'),
    port: validatePort(opts.port ?? 22),
    identity: opts.identity === undefined ? undefined : validateSafePath(opts.identity, 'identity file'),
  };
}

/** How a source is shown in logs, records and errors. */
export function describeSource(s: CaptureSource): string {
  const h = isIPv6(s.host) ? `[${s.host}]` : s.host;
  return s.kind === 'ssh' ? `${s.user}@${h}${s.port === 22 ? '' : `:${s.port}`}` : `rsync://${h}${s.port === 873 ? '' : `:${s.port}`}/${s.module}${s.path === '/' ? '' : s.path}`;
}

/** Quote a user-supplied string for an error message: control characters escaped. */
function printable(s: string): string {
  return JSON.stringify(s).slice(1, -1).slice(0, 200);
}
