/**
 * Path confinement for the TFTP root: map a requested file name to a file
 * inside the root, or refuse it. TFTP has no authentication, so everything a
 * client names is hostile until proven to live under the root.
 */
import { constants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { sep } from 'node:path';
import { ERROR_CODES } from './codec.ts';

/** A refusal: the TFTP error code to send, the message, and a short reason for logs/metrics. */
export interface Refusal {
  ok: false;
  code: number;
  message: string;
  reason: 'bad-name' | 'outside-root' | 'not-found' | 'not-a-file' | 'io';
}

/** A name that passed the syntactic checks: relative, '/'-separated, no '.'/'..'/empty segments. */
export type CleanName = { ok: true; name: string } | Refusal;

function refuse(code: number, reason: Refusal['reason'], message: string): Refusal {
  return { ok: false, code, reason, message };
}

/**
 * Syntactic checks, no file system access. Leading '/' are stripped (many
 * clients send "/pxelinux.0", like tftpd-hpa -s treats them); NUL bytes,
 * backslashes and '..' segments are refused; '.' and empty segments dropped.
 */
export function cleanName(requested: string): CleanName {
  if (requested.includes('\0')) return refuse(ERROR_CODES.ACCESS_VIOLATION, 'bad-name', 'NUL byte in file name');
  // Backslash: a DOS-style separator some ROMs send; refusing beats guessing.
  if (requested.includes('\\')) return refuse(ERROR_CODES.ACCESS_VIOLATION, 'bad-name', 'backslash in file name');
  const segments = requested.replace(/^\/+/, '').split('/');
  if (segments.includes('..')) return refuse(ERROR_CODES.ACCESS_VIOLATION, 'bad-name', "'..' in file name");
  const kept = segments.filter((s) => s !== '' && s !== '.');
  if (kept.length === 0) return refuse(ERROR_CODES.ACCESS_VIOLATION, 'bad-name', 'empty file name');
  return { ok: true, name: kept.join('/') };
}

/** An open, confined, regular file. The caller closes `handle`. */
export interface OpenedFile {
  ok: true;
  path: string;
  size: number;
  handle: FileHandle;
}

/** A read-only TFTP root directory. */
export class TftpRoot {
  /** The root with symlinks resolved: every served file's real path starts with it. */
  readonly real: string;

  private constructor(real: string) {
    this.real = real;
  }

  /** Resolve the root's real path once (it must exist). */
  static async open(root: string): Promise<TftpRoot> {
    return new TftpRoot(await realpath(root));
  }

  /** Whether a real path lies inside the root. */
  contains(real: string): boolean {
    return real === this.real || real.startsWith(this.real.endsWith(sep) ? this.real : this.real + sep);
  }

  /**
   * Open a cleaned name for reading. Symlinks are followed only if their
   * target's real path is still inside the root; the final open uses
   * O_NOFOLLOW on the resolved path so a last-moment swap to a symlink fails.
   */
  async openFile(name: string): Promise<OpenedFile | Refusal> {
    const clean = cleanName(name);
    if (!clean.ok) return clean;
    let real: string;
    try {
      real = await realpath(`${this.real}/${clean.name}`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') {
        return refuse(ERROR_CODES.FILE_NOT_FOUND, 'not-found', 'File not found');
      }
      if (code === 'EACCES') return refuse(ERROR_CODES.ACCESS_VIOLATION, 'io', 'Permission denied');
      return refuse(ERROR_CODES.NOT_DEFINED, 'io', `cannot resolve file: ${code ?? 'error'}`);
    }
    if (!this.contains(real)) return refuse(ERROR_CODES.ACCESS_VIOLATION, 'outside-root', 'Access violation');
    let handle: FileHandle;
    try {
      handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return refuse(ERROR_CODES.FILE_NOT_FOUND, 'not-found', 'File not found');
      return refuse(ERROR_CODES.ACCESS_VIOLATION, 'io', `cannot open file: ${code ?? 'error'}`);
    }
    const st = await handle.stat().catch(() => null);
    if (!st?.isFile()) {
      await handle.close();
      return refuse(ERROR_CODES.FILE_NOT_FOUND, 'not-a-file', 'Not a regular file');
    }
    return { ok: true, path: real, size: st.size, handle };
  }
}
