/**
 * The CLI in a pipeline. Output, as `imgsrv nodes ls --json | jq` reads it: the
 * real bin/imgsrv as a child process whose stdout is a pipe read by a slow
 * reader (nothing read for a while, then small reads), so the kernel's pipe
 * buffer (64 KiB) fills and Node has to queue the rest. Before the fix the
 * process exited with the queue unwritten: a shell pipe got exactly 65,536
 * bytes, this reader about 146 kB of 400. Input: `nodes bulk … -` takes the MACs a pipe brings.
 */
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ADMIN as ADMIN, testApp, type TestApp } from '../api/testdata/app.ts';

const IMGSRV = resolve(import.meta.dirname, '..', '..', 'bin', 'imgsrv');
const NODES = 1600;
const mac = (i: number) => `52:54:00:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

let t: TestApp;
let base: string;

beforeAll(async () => {
  t = await testApp();
  t.store.nodes.setLimit(NODES + 10);
  for (let i = 0; i < NODES; i++) {
    t.store.nodes.record({ mac: mac(i), ip: `198.18.${(i >> 8) & 0xff}.${i & 0xff}`, firmware: i % 2 ? 'uefi' : 'bios', phase: 'booted' });
    t.store.nodes.assignHostname(mac(i), `rack${Math.floor(i / 40)}-n${i % 40}`);
  }
  t.store.groups.upsert('rack9', {});
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
});
afterAll(async () => t?.close());

/**
 * Run bin/imgsrv with stdout piped to a reader that reads nothing for `delayMs`, then 4 KiB at a time.
 * The 'readable' listener is there from the start: a child's stdout nobody listens to is drained and
 * dropped by Node when the child exits.
 */
function slowPipe(args: string[], delayMs = 1500): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(IMGSRV, ['--server', base, ...args], { env: { ...process.env, IMGSRV_TOKEN: ADMIN, IMGSRV_DATA: t.dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    let reading = false;
    let code: number | null = null;
    let exited = false;
    let ended = false;
    const finish = () => exited && ended && ok({ code, stdout: Buffer.concat(chunks), stderr });
    const read = () => {
      if (!reading) return;
      let c: Buffer | null;
      while ((c = child.stdout.read(Math.min(4096, child.stdout.readableLength || 4096)) as Buffer | null) !== null) chunks.push(c);
    };
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('readable', read);
    child.stdout.on('end', () => ((ended = true), finish()));
    setTimeout(() => ((reading = true), read()), delayMs);
    child.on('error', fail);
    child.on('exit', (c) => ((code = c), (exited = true), finish()));
  });
}

describe('CLI output through a slow pipe', () => {
  it(`nodes ls --json with ${NODES} nodes arrives whole (several hundred kB)`, async () => {
    const r = await slowPipe(['nodes', 'ls', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(300_000);
    const list = JSON.parse(r.stdout.toString()) as Array<{ mac: string; hostname: string }>;
    expect(list).toHaveLength(NODES);
    expect(list.at(-1)).toMatchObject({ mac: mac(NODES - 1), hostname: `rack${Math.floor((NODES - 1) / 40)}-n${(NODES - 1) % 40}` });
  });

  it('nodes ls as a table arrives whole', async () => {
    const r = await slowPipe(['nodes', 'ls']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.toString().trimEnd().split('\n');
    expect(lines).toHaveLength(NODES + 1);
    expect(lines.at(-1)).toContain(mac(NODES - 1));
  });

  it('a local command (help) arrives whole', async () => {
    const r = await slowPipe(['help', 'nodes'], 500);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toMatch(/rm <mac>/);
  });

  it('a reader that leaves early (`| head -1`) ends the command quietly', async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((ok) => {
      const child = spawn(IMGSRV, ['--server', base, 'nodes', 'ls', '--json'], { env: { ...process.env, IMGSRV_TOKEN: ADMIN, IMGSRV_DATA: t.dir }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout.once('data', () => child.stdout.destroy());
      child.on('exit', (code) => ok({ code, stderr }));
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

/** Run bin/imgsrv with `input` piped on stdin. */
function withStdin(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(IMGSRV, ['--server', base, ...args], { env: { ...process.env, IMGSRV_TOKEN: ADMIN, IMGSRV_DATA: t.dir }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => ok({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe('nodes bulk: MACs piped in', () => {
  it('puts the piped MACs in a group, all in one request', async () => {
    const macs = Array.from({ length: 40 }, (_, i) => mac(80 + i));
    const r = await withStdin(['nodes', 'bulk', 'group', '--group', 'rack9', '-'], `${macs.join('\n')}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('group: 40 nodes changed\n');
    expect(t.store.nodes.list().filter((n) => n.group === 'rack9').map((n) => n.mac)).toEqual(macs);
  });

  it('refuses bad usage with one line, exit 2, and an unknown MAC with exit 1, changing nothing', async () => {
    const bad = await withStdin(['nodes', 'bulk', 'retire', '--group', 'rack9', mac(1)], '');
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual([expect.stringMatching(/retire takes no --group/)]);
    expect((await withStdin(['nodes', 'bulk', 'explode', mac(1)], '')).code).toBe(2);
    const unknown = await withStdin(['nodes', 'bulk', 'group', '--group', 'rack9', mac(1), '52:54:00:ff:ff:ff'], '');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no node with MAC 52:54:00:ff:ff:ff/);
    expect(t.store.nodes.get(mac(1))?.group).toBeNull();
  });
});
