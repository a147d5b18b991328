/**
 * How the consumers of our boot scripts read them, written down as small
 * parsers so a fuzz oracle can see what a script means, not what it looks
 * like:
 * - iPXE (src/image/script.c, src/core/exec.c, src/core/getopt.c): lines end
 *   at "\n", one trailing "\r" is dropped, a trailing "\" joins the next
 *   line, a line is a C string (NUL ends it), ":x" starts a label; tokens
 *   split on C isspace; a token starting with "#" starts a comment; "||",
 *   "&&" and ";" end a command; "${" in a token is expanded; leading "-"
 *   tokens are options until the first that isn't.
 * - Linux (lib/cmdline.c next_arg): arguments split on isspace, where the
 *   kernel's ctype also counts 0xA0 (latin-1 NBSP) as space; double quotes
 *   group and are removed.
 * - pxelinux (com32/elflink/ldlinux/readconfig.c): one keyword and its value
 *   per line, "\r" and NUL end a line too; INITRD takes a comma list.
 */

/** One iPXE token and how iPXE treats it: command name, option, argument, terminator, comment, label. */
export interface IpxeToken {
  tag: 'CMD' | 'OPT' | 'ARG' | 'OP' | 'COMMENT' | 'LABEL';
  word: string;
  /** iPXE expands settings ("${…}") in it. */
  expands: boolean;
}

const isC = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);

/** An iPXE script as iPXE executes it: per line, a label or commands of tagged tokens. */
export function ipxeParse(script: string): IpxeToken[][] {
  const bytes = Buffer.from(script, 'utf8');
  const lines: IpxeToken[][] = [];
  let pending = Buffer.alloc(0);
  for (let start = 0; start <= bytes.length; ) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl === -1 ? bytes.length : nl;
    let line = Buffer.concat([pending, bytes.subarray(start, end)]);
    start = end + 1;
    if (line.length && line[line.length - 1] === 0x0d) line = line.subarray(0, -1);
    pending = Buffer.alloc(0);
    if (line.length && line[line.length - 1] === 0x5c) {
      pending = line.subarray(0, -1); // continued on the next line
      continue;
    }
    const nul = line.indexOf(0);
    lines.push(tokens(nul === -1 ? line : line.subarray(0, nul)));
  }
  if (pending.length) lines.push(tokens(pending));
  return lines;
}

function tokens(line: Buffer): IpxeToken[] {
  const words: string[] = [];
  for (let i = 0; i < line.length; ) {
    while (i < line.length && isC(line[i]!)) i++;
    const s = i;
    while (i < line.length && !isC(line[i]!)) i++;
    if (i > s) words.push(line.toString('utf8', s, i));
  }
  if (words[0]?.startsWith(':')) return [{ tag: 'LABEL', word: words[0].slice(1), expands: false }, ...tagCommands(words.slice(1))];
  return tagCommands(words);
}

function tagCommands(words: string[]): IpxeToken[] {
  const out: IpxeToken[] = [];
  let inOptions = false;
  let first = true;
  for (const word of words) {
    const expands = word.includes('${');
    if (word.startsWith('#')) {
      out.push({ tag: 'COMMENT', word, expands: false });
      break;
    }
    if (word === '||' || word === '&&' || word === ';') {
      out.push({ tag: 'OP', word, expands: false });
      first = true;
    } else if (first) {
      out.push({ tag: 'CMD', word, expands });
      first = false;
      inOptions = true;
    } else if (inOptions && word.startsWith('-') && word !== '-') {
      out.push({ tag: 'OPT', word, expands });
      if (word === '--') inOptions = false;
    } else {
      inOptions = false;
      out.push({ tag: 'ARG', word, expands });
    }
  }
  return out;
}

/** The kernel's reading of a command line: its arguments, quotes removed. */
export function linuxArgs(cmdline: string): string[] {
  const b = Buffer.from(cmdline, 'utf8');
  const space = (c: number): boolean => isC(c) || c === 0xa0;
  const out: string[] = [];
  for (let i = 0; i < b.length; ) {
    while (i < b.length && space(b[i]!)) i++;
    if (i >= b.length) break;
    let quoted = false;
    const arg: number[] = [];
    for (; i < b.length && (quoted || !space(b[i]!)); i++) {
      if (b[i] === 0x22) quoted = !quoted;
      else arg.push(b[i]!);
    }
    out.push(Buffer.from(arg).toString('utf8'));
  }
  return out;
}

/** A pxelinux config as ldlinux reads it: per line, the keyword and its whitespace-separated words. */
export function pxelinuxParse(cfg: string): string[][] {
  return cfg
    .split(/[\n\r\0]/)
    .map((l) => l.split(/[\t\n\v\f\r ]+/).filter((w) => w !== ''))
    .filter((l) => l.length > 0 && !l[0]!.startsWith('#'))
    .map(([k, ...rest]) => [k!.toUpperCase(), ...(k!.toUpperCase() === 'INITRD' ? rest.flatMap((w) => w.split(',')) : rest)]);
}
