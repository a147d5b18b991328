/**
 * The web console in real Chromium against a real `imgsrv serve`: sign in, pick
 * the sample image, pre-assign a hostname, watch a simulated node go to done
 * live, retry a failed node, groups, settings, sign out; axe on every view,
 * keyboard sign-in, and a 375 px wide window without sideways scrolling.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { apiClient, launchChromium, pageWidth, screenshot, seriousAxeViolations, type ApiClient, type Win } from './testdata/browser.ts';
import { consoleServerAvailable, startConsoleServer, type ConsoleServer } from './testdata/server.ts';
import { simulatedNodes } from './testdata/sim-node.ts';
import { runSwarmNodes } from './testdata/swarm-nodes.ts';

const OUTPUT = join(import.meta.dirname, 'output');
const MAC = (n: number) => `52:54:00:c0:00:${n.toString(16).padStart(2, '0')}`;
const VIEWS = ['nodes', 'images', 'deployment', 'groups', 'settings'] as const;

// Needs the server on `lo`, or (today) root for a lab network namespace; skipped with a reason otherwise.
const runnable = await consoleServerAvailable();

describe.skipIf(!runnable)('web console (Chromium)', () => {
  let server: ConsoleServer | undefined;
  let closeBrowser: (() => Promise<void>) | undefined;
  let context: BrowserContext;
  let page: Page;
  let api: ApiClient;
  let infoHash = 'ab'.repeat(20);
  const pageErrors: string[] = [];

  const { report, boot, swarm } = simulatedNodes(() => api, (mac) => server!.nodeToken(mac), () => infoHash);
  const row = (mac: string) => page.locator(`tr[data-mac="${mac}"]`);
  const go = async (view: (typeof VIEWS)[number]) => {
    await page.evaluate((v) => ((globalThis as unknown as Win).location.hash = `#/${v}`), view);
    await expect.poll(() => page.locator('main h1').textContent()).toBe(view[0]!.toUpperCase() + view.slice(1));
  };
  const expectAccessible = async () => expect(await seriousAxeViolations(page)).toEqual([]);

  beforeAll(async () => {
    server = await startConsoleServer();
    const launched = await launchChromium(server.chromium);
    closeBrowser = launched.close;
    api = await apiClient(await launched.browser.newContext(), server.base, server.adminToken);
    context = await launched.browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    // CSP stays on (default-src 'self'): any inline script or style the build emits shows up here.
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const swarms = await api.call<Array<{ image: string; version: number; infoHash: string }>>('GET', '/swarm');
    infoHash = swarms.body.find((s) => s.image === 'web' && s.version === 2)?.infoHash ?? infoHash;
  });

  afterAll(async () => {
    await closeBrowser?.();
    if (server) {
      // The server's own log, for when a test failed (test/console/output/ is not tracked).
      mkdirSync(OUTPUT, { recursive: true });
      writeFileSync(join(OUTPUT, 'server.log'), `# imgsrv serve on ${server.where}, ${server.base}\n${server.log()}`);
    }
    await server?.stop();
  });

  it('reaches the sign-in form with Tab, shows a wrong password, signs in with Enter', async () => {
    await page.goto(server!.base);
    const password = page.getByLabel('Admin password');
    await expect.poll(() => password.isVisible()).toBe(true);
    await expectAccessible();
    await screenshot(page, 'sign-in');
    await page.evaluate(() => (globalThis as unknown as Win).document.activeElement?.blur?.());
    for (let i = 0; i < 5 && !(await password.evaluate((el) => el === (globalThis as unknown as Win).document.activeElement)); i++) await page.keyboard.press('Tab');
    expect(await password.evaluate((el) => el === (globalThis as unknown as Win).document.activeElement)).toBe(true);
    await page.keyboard.type('not-the-password');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByRole('alert').filter({ hasText: 'Wrong password' }).count()).toBe(1);
    await password.fill(server!.adminToken);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByRole('navigation', { name: 'Main' }).isVisible()).toBe(true);
    await expect.poll(() => page.locator('main h1').textContent()).toBe('Nodes');
    await expect.poll(() => page.locator('.conn').textContent()).toBe('Live');
    await expectAccessible();
  });

  it('picks an image as the sample image', async () => {
    await go('images');
    await expect.poll(() => page.locator('tr[data-image]').count()).toBe(2);
    await page.getByRole('button', { name: 'Use as sample image web@1' }).click();
    await expect.poll(() => page.locator('tr[data-image="web@1"] .badge.sample').count()).toBe(1);
    expect((await api.call<{ image: string }>('GET', '/deploy')).body.image).toBe('web@1');
    await page.getByRole('button', { name: 'Use latest web' }).click();
    await expect.poll(() => page.locator('tr[data-image="web@2"] .badge.sample').count()).toBe(1);
    await expect.poll(() => page.locator('.sample-current').textContent()).toContain('web');
    expect((await api.call<{ image: string }>('GET', '/deploy')).body.image).toBe('web');
    await page.getByRole('button', { name: 'Verify web@2' }).click();
    await expect.poll(() => page.locator('tr[data-image="web@2"] .verification').textContent()).toContain('✓ verified');
    await expectAccessible();
  });

  it('starts a capture and follows it live until it fails on an unreachable host', async () => {
    await page.getByLabel('Source host').fill('root@198.18.0.99');
    await page.getByLabel('Image name (optional)').fill('db');
    await page.getByRole('button', { name: 'Capture', exact: true }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Capture of root@198.18.0.99 started' }).count()).toBe(1);
    const item = page.locator('.captures li').filter({ hasText: 'root@198.18.0.99' });
    await expect.poll(() => item.getAttribute('data-state'), { timeout: 60_000 }).toBe('failed');
    await expect.poll(() => item.locator('.node-error').textContent()).toMatch(/\S/);
    await expectAccessible();
    await screenshot(page, 'images');
  });

  it('pre-assigns a hostname to a booted node', async () => {
    await go('nodes');
    // Booted, not yet asking for its plan: the hostname assigned now is the one the plan hands out.
    await report({ mac: MAC(1), ip: '198.18.0.101', firmware: 'uefi', phase: 'booted' });
    await expect.poll(() => row(MAC(1)).count()).toBe(1);
    await page.getByRole('button', { name: `Edit hostname of ${MAC(1)}` }).click();
    const input = page.getByLabel(`Hostname of ${MAC(1)}`);
    await input.fill('rack1-n01');
    await input.press('Enter');
    await expect.poll(() => row(MAC(1)).locator('.hostname').textContent()).toContain('rack1-n01');
    expect((await api.call<{ hostname: string }>('GET', `/nodes/${MAC(1)}`)).body.hostname).toBe('rack1-n01');
    expect(await boot(MAC(1), '198.18.0.101', 'uefi')).toMatchObject({ action: 'restore', hostname: { assigned: 'rack1-n01' } });
  });

  it('shows a simulated node move through its phases to done, without a reload', async () => {
    await page.evaluate(() => ((globalThis as unknown as Win).marker = 42));
    const phase = () => row(MAC(1)).getAttribute('data-phase');
    const bar = () => row(MAC(1)).locator('progress').getAttribute('value');
    await report({ mac: MAC(1), phase: 'downloading', swarm: swarm(0.4, 3) });
    await expect.poll(phase).toBe('downloading');
    await expect.poll(bar).toBe('400');
    await expect.poll(() => row(MAC(1)).textContent()).toMatch(/12\.5 MB\/s · 3 peers/);
    await report({ mac: MAC(1), phase: 'restoring', restore: { written: 250_000_000, total: 1_000_000_000 } });
    await expect.poll(phase).toBe('restoring');
    await expect.poll(bar).toBe('250');
    await expect.poll(() => row(MAC(1)).textContent()).toContain('250 MB of 1.00 GB');
    for (const p of ['personalising', 'seeding', 'done']) {
      await report({ mac: MAC(1), phase: p, ...(p === 'seeding' ? { swarm: swarm(1, 2, 200) } : {}) });
      await expect.poll(phase).toBe(p);
      await expect.poll(() => row(MAC(1)).locator('.badge').first().textContent()).toBe(p);
    }
    // Once installed the hostname is on the disk: no more editing.
    await expect.poll(() => page.getByRole('button', { name: `Edit hostname of ${MAC(1)}` }).count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as Win).marker)).toBe(42);
  });

  it("shows a failed node's error and retries it", async () => {
    const error = 'restore failed: no disk large enough for web@2\n/dev/vda: 8.0 GB, the image needs 12.0 GB';
    await boot(MAC(2), '198.18.0.102', 'bios');
    await report({ mac: MAC(2), phase: 'failed', message: error });
    // More nodes in other phases, for the screenshot and the deployment view.
    await boot(MAC(3), '198.18.0.103', 'uefi');
    await report({ mac: MAC(3), phase: 'downloading', swarm: swarm(0.62, 4, 90) });
    await boot(MAC(4), '198.18.0.104', 'uefi');
    await report({ mac: MAC(4), phase: 'restoring', restore: { written: 3.5e9, total: 1e10 } });
    await report({ mac: MAC(5), ip: '198.18.0.105', firmware: 'bios', phase: 'booted' });
    await expect.poll(() => row(MAC(2)).locator('.node-error').textContent()).toBe(error);
    await expect.poll(() => page.locator('tr[data-mac]').count()).toBe(5);
    await expectAccessible();
    await screenshot(page, 'nodes');
    await page.getByRole('button', { name: `Retry ${MAC(2)}` }).click();
    await expect.poll(async () => (await api.call<{ install: string }>('GET', `/nodes/${MAC(2)}`)).body.install).toBe('pending');
    await expect.poll(() => page.getByRole('alert').filter({ hasText: /\S/ }).count()).toBe(0);
  });

  it('refuses to delete an image version while nodes install it', async () => {
    await go('images');
    const web2 = page.locator('tr[data-image="web@2"]');
    await expect.poll(() => web2.locator('.badge.in-use').count()).toBe(1);
    await page.getByRole('button', { name: 'Delete web@2' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => page.getByRole('alert').filter({ hasText: /\S/ }).textContent()).toMatch(/web@2|in use/i);
    expect((await api.call<unknown[]>('GET', '/images')).body).toHaveLength(2);
  });

  it('creates a group and puts a node in it', async () => {
    await go('groups');
    await page.getByRole('button', { name: 'New group' }).click();
    await page.getByLabel('Name', { exact: true }).fill('rack1');
    await page.getByLabel('Image', { exact: true }).selectOption('web');
    await page.getByLabel('Hostname pattern').fill('rack1-{n}');
    await page.getByLabel('Partitions to keep on re-image').fill('/srv');
    await page.getByLabel('Hostname prompt timeout (seconds)').fill('30');
    await page.getByRole('button', { name: 'Create group' }).click();
    await expect.poll(() => page.locator('tr[data-group="rack1"]').count()).toBe(1);
    const group = await api.call<Array<{ name: string; image: string; hostnamePattern: string; keep: string[]; promptTimeout: number }>>('GET', '/groups');
    expect(group.body).toEqual([expect.objectContaining({ name: 'rack1', image: 'web', hostnamePattern: 'rack1-{n}', keep: ['/srv'], promptTimeout: 30 })]);
    await expectAccessible();
    await go('nodes');
    // Group and image change through the selection (a selection of one here; nodes-fleet.browser.test.ts does a thousand).
    await page.getByRole('checkbox', { name: `Select ${MAC(5)}` }).check();
    await page.getByLabel('Group for selected').selectOption('rack1');
    await page.getByRole('button', { name: 'Assign group' }).click();
    await expect.poll(async () => (await api.call<{ group: string }>('GET', `/nodes/${MAC(5)}`)).body.group).toBe('rack1');
    await expect.poll(() => row(MAC(5)).locator('.group').textContent()).toBe('rack1');
    // A per-node override wins over the group's image.
    await page.getByLabel('Image for selected').selectOption('web@1');
    await page.getByRole('button', { name: 'Set image' }).click();
    await expect.poll(async () => (await api.call<{ image: string }>('GET', `/nodes/${MAC(5)}`)).body.image).toBe('web@1');
    await expectAccessible();
    await page.getByRole('button', { name: 'Clear selection' }).click();
    await go('groups');
    await expect.poll(() => page.locator('tr[data-group="rack1"] td').nth(4).textContent()).toBe('1');
    await screenshot(page, 'groups');
  });

  it('changes settings and shows the server refusing a bad value', async () => {
    await go('settings');
    const range = page.getByLabel('Address range (full DHCP)');
    await range.fill('198.18.0.200-198.18.0.100');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await expect.poll(() => page.locator('#settings-error').textContent()).toMatch(/range/i);
    await range.fill('198.18.0.100-198.18.0.200');
    await page.getByLabel('Hostname pattern').fill('n-{n}');
    await page.getByLabel(/TFTP only/).check();
    await page.getByRole('button', { name: 'Add reservation' }).click();
    await page.getByLabel('MAC', { exact: true }).fill(MAC(9));
    await page.getByLabel('IP address').fill('198.18.0.109');
    await page.getByLabel('Default group').selectOption('rack1');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Settings saved' }).count()).toBe(1);
    const s = await api.call<{ dhcp: { range: string; reservations: unknown[] }; boot: { mode: string }; nodes: { hostnamePattern: string; defaultGroup: string } }>('GET', '/settings');
    expect(s.body).toMatchObject({
      dhcp: { mode: 'off', range: '198.18.0.100-198.18.0.200', reservations: [{ mac: MAC(9), ip: '198.18.0.109' }] },
      boot: { mode: 'tftp' },
      nodes: { hostnamePattern: 'n-{n}', defaultGroup: 'rack1' },
    });
    await expectAccessible();
    await screenshot(page, 'settings');
  });

  it('charts bytes from the server and from peers, from a real swarm', async () => {
    await go('deployment');
    // Three real swarm clients fetch web@2 from the seeder and from each other, reporting as nodes do.
    const swarms = await api.call<Array<{ image: string; version: number; torrent: string }>>('GET', '/swarm');
    const torrent = swarms.body.find((s) => s.image === 'web' && s.version === 2)!.torrent;
    await runSwarmNodes(server!, torrent, [MAC(0x11), MAC(0x12), MAC(0x13)]);
    await expect.poll(() => page.locator('.completion li').count()).toBe(8);
    // The chart shows both sources once the next swarm sample (every 2 s) has the peers' uploads.
    const peers = page.locator('.totals div').filter({ hasText: 'Served by peers' }).locator('dd');
    await expect.poll(async () => (await peers.textContent()) !== '0 B', { timeout: 20_000 }).toBe(true);
    await expect.poll(() => page.locator('svg.swarm-chart path.line-peers').count()).toBe(1);
    const history = await api.call<{ samples: Array<{ server: number; peers: number }> }>('GET', '/swarm/history');
    const last = history.body.samples.at(-1)!;
    // Each node has its own namespace, so they trade pieces: the peers carry a good part of it.
    expect(last.server).toBeGreaterThan(0);
    expect(last.peers).toBeGreaterThan(0);
    await expectAccessible();
    await screenshot(page, 'deployment');
  });

  it('retires a node, with a disk wipe at its next boot', async () => {
    await go('nodes');
    await page.getByRole('button', { name: `Retire ${MAC(5)}` }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Wipe its disk at next boot').check();
    await expectAccessible();
    await dialog.getByRole('button', { name: 'Retire' }).click();
    await expect.poll(() => row(MAC(5)).count()).toBe(0);
    const node = await api.call<{ retired: { wipe: boolean } | null }>('GET', `/nodes/${MAC(5)}`);
    expect(node.body.retired).toMatchObject({ wipe: true });
    expect((await api.call<{ action: string }>('GET', `/nodes/${MAC(5)}/plan`, { token: server!.nodeToken(MAC(5)) })).body.action).toBe('wipe');
  });

  it('pre-assigns a hostname by MAC to a node that never booted', async () => {
    await page.getByText('Pre-assign a hostname to a node that has not booted yet').click();
    await page.getByLabel('MAC address').fill(MAC(7).toUpperCase());
    await page.getByLabel('Hostname', { exact: true }).fill('spare-01');
    await page.getByRole('button', { name: 'Assign' }).click();
    await expect.poll(async () => (await api.call<{ hostname: string }>('GET', `/nodes/${MAC(7)}`)).body.hostname).toBe('spare-01');
    await expect.poll(() => row(MAC(7)).locator('.hostname').textContent()).toContain('spare-01');
  });

  it('goes back to sign-in when the session is gone', async () => {
    await context.clearCookies();
    await page.evaluate(() => ((globalThis as unknown as Win).location.hash = '#/groups'));
    await expect.poll(() => page.getByLabel('Admin password').isVisible()).toBe(true);
    await page.getByLabel('Admin password').fill(server!.adminToken);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('main h1').textContent()).toBe('Groups');
  });

  it('has a skip link that moves focus to the content', async () => {
    await go('nodes');
    await page.evaluate(() => (globalThis as unknown as Win).document.activeElement?.blur?.());
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => (globalThis as unknown as Win).document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => (globalThis as unknown as Win).document.activeElement?.id)).toBe('main');
    expect(await page.evaluate(() => (globalThis as unknown as Win).location.hash)).toBe('#/nodes');
  });

  it('fits a 375 px wide window on every view', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    for (const v of VIEWS) {
      await go(v);
      const { scrollWidth, innerWidth, culprits } = await pageWidth(page);
      expect(scrollWidth, `#/${v} at 375 px: ${culprits.join(', ')}`).toBeLessThanOrEqual(innerWidth);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('shows what a node sends as text, never as markup', async () => {
    const evil = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold</b>';
    await go('nodes');
    await boot(MAC(9), '198.18.0.109', 'bios');
    await report({ mac: MAC(9), phase: 'failed', message: evil });
    await expect.poll(() => row(MAC(9)).locator('.node-error').textContent()).toBe(evil);
    expect(await page.locator('main img, main script, main b').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
  });

  it('ran without CSP violations or script errors', () => {
    // Chromium also logs every 4xx answer (the wrong password, the refused setting): those were expected.
    expect(pageErrors.filter((e) => !/^Failed to load resource: the server responded with a status of 4\d\d/.test(e))).toEqual([]);
  });

  it('signs out', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect.poll(() => page.getByLabel('Admin password').isVisible()).toBe(true);
    const status = await page.evaluate(async () => (await fetch('api/v1/session')).status);
    expect(status).toBe(401);
  });
});
