/**
 * The patches in this folder were reviewed against one version of each
 * library they reach into (CHECKLIST.md, "Reviewed against"). When npm
 * installs another, this fails until someone has walked the checklist.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CHECKLIST = join(import.meta.dirname, 'CHECKLIST.md');

/** The directory of package `name` as Node resolves it from `fromDir` (the nearest node_modules up the tree). */
function packageDir(name: string, fromDir: string): string {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`${name} is not installed (looked up from ${fromDir})`);
  }
}

const versionIn = (dir: string): string => (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;

/** `name version` pairs of the checklist's "Reviewed against:" line. */
function reviewed(): Map<string, string> {
  const line = readFileSync(CHECKLIST, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Reviewed against:'));
  if (!line) throw new Error(`${CHECKLIST} has no "Reviewed against:" line`);
  return new Map([...line.matchAll(/([a-z][\w-]*) (\d+\.\d+\.\d+)/g)].map((m) => [m[1]!, m[2]!]));
}

describe('the webtorrent patches', () => {
  const webtorrent = packageDir('webtorrent', import.meta.dirname);
  // The libraries as webtorrent itself loads them (a copy nested under webtorrent wins).
  const installed: Array<[string, string]> = [
    ['webtorrent', versionIn(webtorrent)],
    ...['bittorrent-protocol', 'cache-chunk-store', 'immediate-chunk-store'].map((name): [string, string] => [name, versionIn(packageDir(name, webtorrent))]),
  ];

  it.each(installed)('were reviewed against the installed %s (%s)', (name, version) => {
    const want = reviewed().get(name);
    expect(
      want,
      `${name} ${version} is installed, but torrent/webtorrent/CHECKLIST.md was reviewed against ${want ?? 'no version of it'}: ` +
        `re-run the checklist in that file against node_modules/${name}, then update its "Reviewed against:" line`,
    ).toBe(version);
  });
});
