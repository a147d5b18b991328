/**
 * Test images for swarm tests: a tree of random (incompressible) files
 * packed into a data dir's image store the way a capture does, so the
 * version carries its info.bencode. Run before `imgsrv serve` starts.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageMeta } from '../images/meta.ts';
import { packImage } from '../images/pack.ts';
import { unknownFacts } from '../server/capture/probe.ts';
import { metaDraft } from '../server/capture/run.ts';
import { initDataDir } from '../server/data-dir.ts';
import { ImageLocks } from '../server/images/locks.ts';
import { ImageStore } from '../server/images/store.ts';
import { silentLogger } from '../core/log.ts';

/** Pack `bytes` of random data (in 8 MiB files) as a new version of `name` in `data`'s store. */
export async function makeTestImage(data: string, name: string, bytes: number): Promise<ImageMeta> {
  const tree = mkdtempSync(join(tmpdir(), 'imgsrv-swarm-tree-'));
  const { store } = initDataDir(data);
  try {
    mkdirSync(join(tree, 'etc'));
    writeFileSync(join(tree, 'etc', 'hostname'), 'sample\n');
    for (let i = 0, left = bytes; left > 0; i++, left -= 8 << 20) writeFileSync(join(tree, `blob${i}`), randomBytes(Math.min(left, 8 << 20)));
    const images = new ImageStore({ root: join(data, 'images'), locks: new ImageLocks(store.db), logger: silentLogger });
    return await images.build(name, async (dir, version) =>
      metaDraft(await packImage({ root: tree, outDir: dir, level: 1 }), { sourceHost: 'root@sample', host: unknownFacts(), torrent: { image: name, version } }),
    );
  } finally {
    store.close();
    rmSync(tree, { recursive: true, force: true });
  }
}
