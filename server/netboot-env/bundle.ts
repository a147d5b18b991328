/**
 * The node client as the initramfs ships it: one ESM file bundled by esbuild
 * (/imgsrv/client.mjs) plus koffi, a native addon that can't be bundled, at
 * /imgsrv/node_modules/koffi with only its linux x64 build. webtorrent's other
 * optional native modules are left out: each is loaded inside a try/catch
 * that falls back to plain JavaScript.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImgsrvError } from '../../core/errors.ts';
import type { CpioEntry } from './cpio.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** The client's entry point; the swarm CLI stands in while the client is being written. */
export const DEFAULT_CLIENT_ENTRY = join(REPO, 'initramfs-client/client/main.ts');
export const FALLBACK_CLIENT_ENTRY = join(REPO, 'initramfs-client/swarm/cli.ts');

// ESM output has no require(): CommonJS dependencies bundled into it call it for node: builtins and koffi.
const BANNER = "import { createRequire as __imgsrvCreateRequire } from 'node:module';\nconst require = __imgsrvCreateRequire(import.meta.url);";

/** Optional native modules that must be absent: ws and webtorrent catch their require() failing. */
const ABSENT = ['bufferutil', 'utf-8-validate', 'node-datachannel', 'node-gyp-build'];

/** Bundle `entry` into one deterministic ESM file (not minified: stack traces stay readable); `inputs` are the files it read, relative to the repo. */
export async function bundleClient(entry: string): Promise<{ data: Buffer; inputs: string[] }> {
  const { build } = await import('esbuild');
  const r = await build({
    entryPoints: [entry],
    absWorkingDir: REPO,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    write: false,
    outfile: 'client.mjs',
    external: ['koffi', ...ABSENT],
    banner: { js: BANNER },
    legalComments: 'none',
    minifyWhitespace: false,
    charset: 'utf8',
    logLevel: 'silent',
    metafile: true,
    plugins: [
      {
        name: 'imgsrv-stubs',
        setup(b) {
          // An empty utp-native makes webtorrent report "no uTP" quietly instead of warning on every start.
          b.onResolve({ filter: /^utp-native$/ }, () => ({ path: 'utp-native', namespace: 'imgsrv-stub' }));
          b.onLoad({ filter: /.*/, namespace: 'imgsrv-stub' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
        },
      },
    ],
  }).catch((err: unknown) => {
    throw new ImgsrvError('NETBOOT_BUILD', `bundling the client ${entry} failed: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  });
  const out = r.outputFiles[0];
  if (!out) throw new ImgsrvError('NETBOOT_BUILD', `esbuild wrote nothing for ${entry}`);
  return { data: Buffer.from(out.contents), inputs: Object.keys(r.metafile.inputs).filter((p) => !p.includes(':')).sort() };
}

/** koffi's package files for linux x64 only (index.js, package.json, the one koffi.node), under `prefix`. */
export async function koffiEntries(prefix = 'imgsrv/node_modules/koffi', dir = join(REPO, 'node_modules/koffi')): Promise<CpioEntry[]> {
  const want = ['package.json', 'index.js', 'indirect.js', 'build/koffi/linux_x64/koffi.node'];
  const out: CpioEntry[] = [];
  for (const f of want) {
    const data = await readFile(join(dir, f)).catch((err: unknown) => {
      if (f === 'indirect.js') return null;
      throw new ImgsrvError('NETBOOT_BUILD', `koffi is incomplete: ${join(dir, f)} is missing`, { hint: 'npm ci', cause: err });
    });
    if (data) out.push({ path: `${prefix}/${f}`, type: 'file', mode: 0o644, data });
  }
  return out;
}
