/**
 * The CLI's API client. Every command but `serve` talks to the running
 * server, so the console sees what the CLI does.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ImgsrvError } from '../../core/errors.ts';
import { dataPaths } from '../data-dir.ts';
import type { GlobalOptions } from './args.ts';

/** Where the server is and how to authenticate. */
export interface ClientOptions {
  server?: string | undefined;
  data: string;
  env?: NodeJS.ProcessEnv;
}

function readTrimmed(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Resolve the server URL: --server, $IMGSRV_SERVER, the data dir's server.json, else http://127.0.0.1. */
export function resolveServer(opts: ClientOptions): string {
  const env = opts.env ?? process.env;
  if (opts.server) return opts.server.replace(/\/+$/, '');
  if (env.IMGSRV_SERVER) return env.IMGSRV_SERVER.replace(/\/+$/, '');
  const info = readTrimmed(dataPaths(opts.data).serverInfo);
  if (info) {
    try {
      const url = (JSON.parse(info) as { url?: unknown }).url;
      if (typeof url === 'string') return url;
    } catch {
      /* fall through to the default */
    }
  }
  return 'http://127.0.0.1';
}

/** A thin JSON client for /api/v1. */
export class ApiClient {
  readonly base: string;
  private readonly token: string | undefined;

  constructor(opts: ClientOptions) {
    this.base = resolveServer(opts);
    this.token = (opts.env ?? process.env).IMGSRV_TOKEN ?? readTrimmed(dataPaths(opts.data).adminToken);
  }

  /** Call the API; non-2xx answers become an ImgsrvError with the server's message. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (err) {
      const reason = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ImgsrvError('SERVER_UNREACHABLE', `cannot reach imgsrv at ${this.base} (${reason})`, {
        hint: 'is `imgsrv serve` running? pass --server URL or set IMGSRV_SERVER',
      });
    }
    const text = await res.text();
    const json = text ? (safeJson(text) as { message?: string } | undefined) : undefined;
    if (res.status === 401) {
      throw new ImgsrvError('UNAUTHORIZED', `imgsrv at ${this.base} refused the token`, {
        hint: this.token ? 'set IMGSRV_TOKEN to the admin token (see <data>/admin.token)' : 'no admin token found: pass --data DIR or set IMGSRV_TOKEN',
      });
    }
    if (!res.ok) {
      const code = res.status === 404 ? 'NOT_FOUND' : res.status === 409 ? 'CONFLICT' : res.status < 500 ? 'BAD_USAGE' : 'INTERNAL';
      throw new ImgsrvError(code, json?.message ?? `${method} ${path} failed with HTTP ${res.status}`);
    }
    return json as T;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The API client for a command, from its global --server/--data options. */
export function apiFor(cmd: Command): ApiClient {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  return new ApiClient({ server: g.server, data: g.data });
}
