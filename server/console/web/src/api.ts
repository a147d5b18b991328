/** The console's one way to talk to the server: JSON over /api/v1 with the session cookie and CSRF header. */
import type { Session } from './types.ts';

/** An API error with the server's code and one-line message. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const BASE = 'api/v1';
// The CSRF token lives only in memory: a reload asks GET /session for it again.
let csrfToken: string | null = null;
let onUnauthorized: () => void = () => {};

/** Remember the session's CSRF token (null after sign-out). */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called on any 401 outside of sign-in: the app goes back to the sign-in view. */
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

/** Send one request; resolves to the parsed JSON body (null for 204), rejects with ApiError. */
export async function api<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(`${BASE}${path}`, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'the server did not answer; is imgsrv running?');
  }
  // null, not undefined: useAction().run resolves to undefined only when the request failed.
  if (res.status === 204) return null as T;
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = (data ?? {}) as { error?: string; message?: string };
    if (res.status === 401 && path !== '/session') onUnauthorized();
    throw new ApiError(res.status, err.error ?? `HTTP_${res.status}`, err.message ?? (text.slice(0, 200) || res.statusText));
  }
  return data as T;
}

/** Sign in with the admin password or token. */
export async function signIn(password: string): Promise<Session> {
  const s = await api<Session>('POST', '/session', { password });
  setCsrfToken(s.csrfToken);
  return s;
}

/** The current session, or null when not signed in. */
export async function currentSession(): Promise<Session | null> {
  try {
    const s = await api<Session>('GET', '/session');
    setCsrfToken(s.csrfToken);
    return s;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

/** Sign out; the cookie is cleared by the server. */
export async function signOut(): Promise<void> {
  try {
    await api<void>('DELETE', '/session');
  } finally {
    setCsrfToken(null);
  }
}

/** A path segment, escaped (MACs, names). */
export const seg = (s: string | number): string => encodeURIComponent(String(s));
