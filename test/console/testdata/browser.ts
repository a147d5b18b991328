/** Chromium (Debian's, via playwright-core) for the console tests, with API, axe and screenshot helpers. */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { REPO } from './server.ts';

const require = createRequire(import.meta.url);

interface AxeResult {
  violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }>;
}

/**
 * The few browser globals the tests touch inside page.evaluate (the repo's tsconfig has no DOM lib,
 * on purpose: server code must not see `window`). Use as `(globalThis as unknown as Win)`.
 */
export interface Win {
  document: { activeElement: { blur?: () => void; id: string; textContent: string | null } | null; documentElement: { scrollWidth: number } };
  innerWidth: number;
  location: { hash: string };
  axe?: { run(ctx: unknown, opts: object): Promise<AxeResult> };
  marker?: number;
  scrollTo(x: number, y: number): void;
}
const AXE = require.resolve('axe-core/axe.min.js');
export const SCREENSHOTS = join(REPO, 'docs', 'screenshots');

/** Launch headless Chromium; `executablePath` may be a wrapper that enters a network namespace. */
export async function launchChromium(executablePath: string): Promise<{ browser: Browser; close: () => Promise<void> }> {
  // playwright gives every launch a fresh temporary profile and removes it on close.
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    close: async () => {
      await browser.close().catch(() => undefined);
    },
  };
}

/** The API as a script would call it, sent from a page of its own (it reaches the server wherever it runs). */
export interface ApiClient {
  /** The page the requests go from (the server's origin), for batches sent from inside it. */
  page: Page;
  call<T = unknown>(method: string, path: string, opts?: { body?: unknown; token?: string }): Promise<{ status: number; body: T }>;
}

/** Open a blank-origin page on the server to send API requests from. */
export async function apiClient(context: BrowserContext, base: string, adminToken: string): Promise<ApiClient> {
  const page = await context.newPage();
  // A JSON URL gives the page the server's origin without starting the console app.
  await page.goto(`${base}/healthz`);
  return {
    page,
    call: async <T,>(method: string, path: string, opts: { body?: unknown; token?: string } = {}) =>
      page.evaluate(
        async ({ method, path, body, token }) => {
          const headers: Record<string, string> = { authorization: `Bearer ${token}` };
          if (body !== undefined) headers['content-type'] = 'application/json';
          const res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
          const text = await res.text();
          return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
        },
        { method, path, body: opts.body, token: opts.token ?? adminToken },
      ) as Promise<{ status: number; body: T }>,
  };
}

/** axe violations of impact serious or critical on the page as it is now (as "rule: target" lines). */
export async function seriousAxeViolations(page: Page): Promise<string[]> {
  // Not page.addScriptTag: the console's CSP (script-src 'self') rightly refuses an injected inline script,
  // and the test must not switch CSP off. Evaluating through the DevTools protocol is not subject to it.
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(readFileSync(AXE, 'utf8'));
  const violations = await page.evaluate(async () => {
    const w = globalThis as unknown as Win;
    const r = await w.axe!.run(w.document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => JSON.stringify(n.target)) }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.targets.join(', ')}`);
}

/** Save a 1280x800 screenshot to docs/screenshots/<name>.png, only when UPDATE_SCREENSHOTS=1 or it is missing. */
export async function screenshot(page: Page, name: string): Promise<boolean> {
  const file = join(SCREENSHOTS, `${name}.png`);
  if (process.env.UPDATE_SCREENSHOTS !== '1' && existsSync(file)) return false;
  mkdirSync(SCREENSHOTS, { recursive: true });
  const size = page.viewportSize();
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.evaluate(() => (globalThis as unknown as Win).scrollTo(0, 0));
  await page.screenshot({ path: file, fullPage: false });
  if (size) await page.setViewportSize(size);
  return true;
}

/** The page's width against the window's (the page must not scroll sideways: wide tables scroll in their own box). */
export async function pageWidth(page: Page): Promise<{ scrollWidth: number; innerWidth: number; culprits: string[] }> {
  const widths = await page.evaluate(() => {
    const w = globalThis as unknown as Win;
    return { scrollWidth: w.document.documentElement.scrollWidth, innerWidth: w.innerWidth };
  });
  // For the failure message: the outermost elements that stick out of the window.
  const culprits = (await page.evaluate(`[...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > innerWidth + 1 && !e.parentElement.closest('.table-wrap'))
    .slice(0, 8).map((e) => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' → ' + Math.round(e.getBoundingClientRect().right) + 'px')`)) as string[];
  return { ...widths, culprits };
}
