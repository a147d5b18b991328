/** `imgsrv images ls|show|rm|verify|sign|export|import`: the image store, through the server's API. */
import { createReadStream, createWriteStream, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { dataPaths } from '../../data-dir.ts';
import { ImgsrvError } from '../../../core/errors.ts';
import type { ImageSummary } from '../../images/store.ts';
import { parseImageRef } from '../../../images/names.ts';
import { apiFor, resolveServer } from '../client.ts';
import { printList, printObject } from '../output.ts';
import type { GlobalOptions } from '../args.ts';
import { humanBytes } from '../output.ts';


/** Streamed requests (export/import) that ApiClient's JSON calls don't cover. */
async function rawFetch(cmd: Command, method: string, path: string, init: { body?: Readable; contentType?: string } = {}): Promise<Response> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const base = resolveServer({ server: g.server, data: g.data });
  let token = process.env.IMGSRV_TOKEN;
  try {
    token ??= readFileSync(dataPaths(g.data).adminToken, 'utf8').trim();
  } catch {
    /* no token file: the server will say 401 */
  }
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (init.contentType) headers['content-type'] = init.contentType;
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers,
      body: init.body ? (Readable.toWeb(init.body) as ReadableStream) : null,
      ...(init.body ? { duplex: 'half' } : {}),
    } as RequestInit);
  } catch (err) {
    throw new ImgsrvError('SERVER_UNREACHABLE', `cannot reach imgsrv at ${base} (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message})`, {
      hint: 'is `imgsrv serve` running? pass --server URL or set IMGSRV_SERVER',
    });
  }
  if (!res.ok) {
    const j = (await res.json().catch(() => ({}))) as { message?: string };
    const code = res.status === 401 ? 'UNAUTHORIZED' : res.status === 404 ? 'NOT_FOUND' : res.status === 409 ? 'CONFLICT' : res.status < 500 ? 'BAD_USAGE' : 'INTERNAL';
    throw new ImgsrvError(code, j.message ?? `${method} ${path} failed with HTTP ${res.status}`);
  }
  return res;
}

/** Resolve NAME (latest version) or NAME@VERSION to a version number via the server. */
async function resolveVersion(cmd: Command, raw: string): Promise<{ name: string; version: number }> {
  const ref = parseImageRef(raw);
  if (ref.version !== undefined) return { name: ref.name, version: ref.version };
  const list = await apiFor(cmd).request<ImageSummary[]>('GET', `/api/v1/images/${ref.name}`);
  const last = list.at(-1);
  if (!last) throw new ImgsrvError('NOT_FOUND', `no image ${ref.name}`, { hint: 'see `imgsrv images ls`' });
  return { name: ref.name, version: last.version };
}

export function registerImages(program: Command): void {
  const images = program.command('images').description('the image store: versions, sizes, checksums; verify, remove, export, import');

  images
    .command('ls [name]')
    .description('list image versions')
    .option('--json', 'print a JSON array (fields: name, version, size, compressedSize, sha256, sourceHost, createdAt, files, inUse)')
    .action(async (name: string | undefined, flags: { json?: boolean }, cmd: Command) => {
      const list = await apiFor(cmd).request<ImageSummary[]>('GET', name ? `/api/v1/images/${parseImageRef(name).name}` : '/api/v1/images');
      printList(
        list,
        [
          ['image', (i) => `${i.name}@${i.version}`],
          ['size', (i) => humanBytes(i.size)],
          ['compressed', (i) => humanBytes(i.compressedSize)],
          ['files', (i) => i.files],
          ['source', (i) => i.sourceHost],
          ['created', (i) => i.createdAt],
          ['sha256', (i) => i.sha256.slice(0, 16)],
          ['in use', (i) => (i.inUse ? 'yes' : '')],
        ],
        Boolean(flags.json),
      );
    });

  images
    .command('show <image>')
    .description('show NAME[@VERSION] with the host facts the restore uses')
    .option('--json', 'print JSON')
    .action(async (raw: string, flags: { json?: boolean }, cmd: Command) => {
      const { name, version } = await resolveVersion(cmd, raw);
      const v = await apiFor(cmd).request<Record<string, unknown>>('GET', `/api/v1/images/${name}/${version}`);
      printObject(v, Boolean(flags.json));
    });

  images
    .command('rm <image>')
    .description('remove NAME@VERSION (refused while a deployment uses it)')
    .option('--json', 'print JSON')
    .action(async (raw: string, flags: { json?: boolean }, cmd: Command) => {
      const { name, version } = parseImageRef(raw, { requireVersion: true }) as { name: string; version: number };
      await apiFor(cmd).request('DELETE', `/api/v1/images/${name}/${version}`);
      if (flags.json) process.stdout.write(JSON.stringify({ removed: true, name, version }) + '\n');
      else process.stdout.write(`removed ${name}@${version}\n`);
    });

  images
    .command('verify <image>')
    .description('re-hash NAME[@VERSION] and check it against its manifest and meta')
    .option('--json', 'print JSON')
    .action(async (raw: string, flags: { json?: boolean }, cmd: Command) => {
      const { name, version } = await resolveVersion(cmd, raw);
      const res = await apiFor(cmd).request<{ ok: boolean; problems: string[] }>('POST', `/api/v1/images/${name}/${version}/verify`);
      if (flags.json) process.stdout.write(JSON.stringify({ name, version, ...res }, null, 2) + '\n');
      else process.stdout.write(res.ok ? `${name}@${version}: ok\n` : `${name}@${version}: ${res.problems.length} problem(s)\n${res.problems.map((p) => `  ${p}`).join('\n')}\n`);
      if (!res.ok) throw new ImgsrvError('IMAGE_INVALID', `${name}@${version} does not verify (${res.problems[0] ?? ''})`, { hint: 'remove it and capture again, or import a good copy' });
    });

  images
    .command('sign <image>')
    .description("sign NAME[@VERSION] with the server's key (new versions are signed at publish once `imgsrv keys generate` made one)")
    .action(async (raw: string, _flags: unknown, cmd: Command) => {
      const { name, version } = await resolveVersion(cmd, raw);
      const sig = await apiFor(cmd).request<{ keyId: string }>('POST', `/api/v1/images/${name}/${version}/sign`);
      process.stdout.write(`${name}@${version}: signed by key ${sig.keyId}\n`);
    });

  images
    .command('export <image> <file>')
    .description('write NAME@VERSION to FILE as one bundle (a tar of meta.json, manifest and image.tar.zst)')
    .option('--json', 'print JSON')
    .action(async (raw: string, file: string, flags: { json?: boolean }, cmd: Command) => {
      const { name, version } = parseImageRef(raw, { requireVersion: true }) as { name: string; version: number };
      const res = await rawFetch(cmd, 'GET', `/api/v1/images/${name}/${version}/export`);
      // Write beside the target and rename: an interrupted export leaves no half file under FILE's name.
      const tmp = `${file}.partial-${process.pid}`;
      try {
        await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(tmp, { flags: 'wx' }));
        renameSync(tmp, file);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw new ImgsrvError('IO', `export to ${file} failed: ${(err as Error).message}`, { hint: 'check free space and that the directory is writable' });
      }
      const size = statSync(file).size;
      if (flags.json) process.stdout.write(JSON.stringify({ name, version, file, bytes: size }) + '\n');
      else process.stdout.write(`exported ${name}@${version} to ${file} (${humanBytes(size)})\n`);
    });

  images
    .command('import <file>')
    .description('import a bundle written by `images export`, as its own version if free, else the next')
    .option('--name <name>', 'import under another image name')
    .option('--json', 'print JSON')
    .action(async (file: string, flags: { name?: string; json?: boolean }, cmd: Command) => {
      let input: Readable;
      try {
        statSync(file);
        input = createReadStream(file);
      } catch (err) {
        throw new ImgsrvError('BAD_USAGE', `cannot read ${file}: ${(err as Error).message}`, { hint: 'give the path of a bundle written by `imgsrv images export`' });
      }
      const q = flags.name ? `?name=${encodeURIComponent(parseImageRef(flags.name).name)}` : '';
      const res = await rawFetch(cmd, 'POST', `/api/v1/images/import${q}`, { body: input, contentType: 'application/x-tar' });
      const s = (await res.json()) as ImageSummary & { keptVersion: boolean };
      if (flags.json) process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      else process.stdout.write(`imported ${s.name}@${s.version}${s.keptVersion ? '' : ' (its own version number was taken)'}\n`);
    });
}
