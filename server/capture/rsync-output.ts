/**
 * Parsers for what rsync prints: `--info=progress2` lines (one running
 * total, rewritten with '\r') and the `--stats` block at the end. Pure
 * functions over text, so they are tested on real captured output.
 */

/** One progress2 sample: bytes done so far, percent of the total, rate, ETA. */
export interface RsyncProgress {
  bytes: number;
  percent: number;
  bytesPerSecond: number;
  etaSeconds: number;
  /** Files transferred so far (xfr#), when printed. */
  transferred?: number;
  /** Files still to check / total files in the list (to-chk=N/M). */
  toCheck?: number;
  totalFiles?: number;
}

/** The --stats block, in bytes and file counts. */
export interface RsyncStats {
  files: number;
  createdFiles: number;
  deletedFiles: number;
  transferredFiles: number;
  totalFileSize: number;
  transferredFileSize: number;
  literalData: number;
  matchedData: number;
  bytesSent: number;
  bytesReceived: number;
}

const UNITS: Record<string, number> = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };
const PROGRESS =
  /^\s*([\d,.]+)([kKMGT]?)\s+(\d+)%\s+([\d.,]+)([kKMGT]?i?B)\/s\s+(?:(\d+):(\d\d):(\d\d)|\?\?:\?\?:\?\?)(?:\s+\(xfr#(\d+),\s+(?:to|ir)-chk=(\d+)\/(\d+)\))?/;

const num = (s: string) => Number(s.replace(/,/g, ''));

/** Parse one progress2 line (without its '\r'); undefined when it isn't one. */
export function parseProgressLine(line: string): RsyncProgress | undefined {
  const m = PROGRESS.exec(line);
  if (!m) return undefined;
  const scale = m[2] ? (UNITS[`${m[2] === 'k' ? 'k' : m[2]}B`] ?? 1) : 1;
  const p: RsyncProgress = {
    bytes: Math.round(num(m[1]!) * scale),
    percent: Number(m[3]),
    bytesPerSecond: Math.round(num(m[4]!) * (UNITS[m[5]!] ?? 1)),
    etaSeconds: m[6] === undefined ? 0 : Number(m[6]) * 3600 + Number(m[7]) * 60 + Number(m[8]),
  };
  if (m[9] !== undefined) {
    p.transferred = Number(m[9]);
    p.toCheck = Number(m[10]);
    p.totalFiles = Number(m[11]);
  }
  return p;
}

/**
 * Split rsync's stdout into progress samples and other lines. rsync ends a
 * progress update with '\r' and a normal line with '\n'; a chunk may end
 * mid-line, so the unfinished tail is handed back to be prefixed next time.
 */
export function splitOutput(buffered: string): { lines: string[]; rest: string } {
  const parts = buffered.split(/[\r\n]/);
  const rest = parts.pop() ?? '';
  return { lines: parts.filter((l) => l.trim() !== ''), rest };
}

const STATS_KEYS: Array<[RegExp, keyof RsyncStats]> = [
  [/^Number of files:\s*([\d,]+)/, 'files'],
  [/^Number of created files:\s*([\d,]+)/, 'createdFiles'],
  [/^Number of deleted files:\s*([\d,]+)/, 'deletedFiles'],
  [/^Number of regular files transferred:\s*([\d,]+)/, 'transferredFiles'],
  [/^Total file size:\s*([\d,]+)/, 'totalFileSize'],
  [/^Total transferred file size:\s*([\d,]+)/, 'transferredFileSize'],
  [/^Literal data:\s*([\d,]+)/, 'literalData'],
  [/^Matched data:\s*([\d,]+)/, 'matchedData'],
  [/^Total bytes sent:\s*([\d,]+)/, 'bytesSent'],
  [/^Total bytes received:\s*([\d,]+)/, 'bytesReceived'],
];

/** Parse the --stats block from rsync's output; undefined when it is missing (rsync died first). */
export function parseStats(text: string): RsyncStats | undefined {
  const out: Partial<RsyncStats> = {};
  for (const raw of text.split(/[\r\n]/)) {
    const line = raw.trim();
    for (const [re, key] of STATS_KEYS) {
      const m = re.exec(line);
      if (m) out[key] = num(m[1]!);
    }
  }
  if (out.files === undefined || out.bytesReceived === undefined || out.totalFileSize === undefined) return undefined;
  return {
    files: out.files,
    createdFiles: out.createdFiles ?? 0,
    deletedFiles: out.deletedFiles ?? 0,
    transferredFiles: out.transferredFiles ?? 0,
    totalFileSize: out.totalFileSize,
    transferredFileSize: out.transferredFileSize ?? 0,
    literalData: out.literalData ?? 0,
    matchedData: out.matchedData ?? 0,
    bytesSent: out.bytesSent ?? 0,
    bytesReceived: out.bytesReceived,
  };
}

/** Add the stats of several runs (one per mounted file system). */
export function sumStats(all: readonly RsyncStats[]): RsyncStats {
  const z: RsyncStats = { files: 0, createdFiles: 0, deletedFiles: 0, transferredFiles: 0, totalFileSize: 0, transferredFileSize: 0, literalData: 0, matchedData: 0, bytesSent: 0, bytesReceived: 0 };
  for (const s of all) for (const k of Object.keys(z) as Array<keyof RsyncStats>) z[k] += s[k];
  return z;
}
