/**
 * State store durability cost: N DHCP lease binds, each committed on its own
 * as an ACK for one client is (the lease upserted and the node sighted in one
 * transaction), with the store's WAL at synchronous = NORMAL (the old
 * setting) and FULL (the store's own), on the disk holding --dir. Runs
 * alternate, median of --runs. Prints binds/s and the FULL/NORMAL time
 * ratio; writes bench/results/store-sync.json.
 * Usage: node bench/store-sync.ts [--binds N] [--batch N] [--runs N] [--dir DIR]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openStore } from '../server/store/db.ts';
import { inTransaction } from '../server/store/transaction.ts';
import { median, round } from './stats.ts';

const { values } = parseArgs({ options: { binds: { type: 'string', default: '2000' }, batch: { type: 'string', default: '1' }, runs: { type: 'string', default: '5' }, dir: { type: 'string', default: tmpdir() } } });
const N = Number(values.binds);
const RUNS = Number(values.runs);
const BATCH = Math.max(1, Number(values.batch));

const mac = (i: number) => `02:00:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** Seconds for N binds in a new store with `synchronous` set as given. */
function run(mode: 'NORMAL' | 'FULL'): number {
  const dir = mkdtempSync(join(values.dir, 'imgsrv-bench-sync-'));
  try {
    const s = openStore(join(dir, 'imgsrv.db'));
    s.db.exec(`PRAGMA synchronous = ${mode}`);
    const t0 = performance.now();
    for (let i = 0; i < N; i += BATCH) {
      inTransaction(s.db, () => {
        for (let j = i; j < Math.min(N, i + BATCH); j++) {
          s.leases.upsert({ ip: ip(j), mac: mac(j), state: 'bound', expiresAt: Date.now() + 3_600_000 });
          s.nodes.sight({ mac: mac(j), ip: ip(j), arch: 7, firmware: 'uefi' });
        }
      });
    }
    const secs = (performance.now() - t0) / 1000;
    s.close();
    return secs;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fs = execFileSync('findmnt', ['-n', '-o', 'SOURCE,FSTYPE,OPTIONS', '-T', values.dir], { encoding: 'utf8' }).trim();
const times: Record<'NORMAL' | 'FULL', number[]> = { NORMAL: [], FULL: [] };
for (let r = 0; r < RUNS; r++) {
  for (const mode of r % 2 ? (['FULL', 'NORMAL'] as const) : (['NORMAL', 'FULL'] as const)) times[mode].push(run(mode));
}
const normal = median(times.NORMAL);
const full = median(times.FULL);
const out = {
  binds: N,
  batch: BATCH,
  runs: RUNS,
  filesystem: fs,
  normal: { seconds: round(normal, 3), bindsPerSecond: Math.round(N / normal), msPerBind: round((normal * 1000) / N, 3) },
  full: { seconds: round(full, 3), bindsPerSecond: Math.round(N / full), msPerBind: round((full * 1000) / N, 3) },
  ratio: round(full / normal, 2),
};
console.log(`store-sync: ${N} lease binds, ${BATCH === 1 ? 'one commit each' : `${BATCH} per commit`}, on ${fs}`);
console.log(`  NORMAL: ${out.normal.bindsPerSecond} binds/s (${out.normal.msPerBind} ms each)`);
console.log(`  FULL:   ${out.full.bindsPerSecond} binds/s (${out.full.msPerBind} ms each)`);
console.log(`  FULL takes ${out.ratio}x the time of NORMAL`);
writeFileSync(new URL(`./results/store-sync${BATCH === 1 ? '' : `-batch${BATCH}`}.json`, import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
