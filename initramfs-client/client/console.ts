/**
 * The node's console: what the person at the machine (or the serial log)
 * sees, and the one question the client asks, the hostname. Status lines
 * are plain lines (a serial console has no cursor control worth relying
 * on); while the prompt is open they are held back so they don't break
 * the line being typed.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

/** RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, 63 characters each, 253 in all. */
export const HOSTNAME_RE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Console output and the hostname prompt. */
export class NodeConsole {
  private readonly out: Writable;
  private readonly input: Readable;
  private held: string[] | null = null;

  constructor(out: Writable = process.stdout, input: Readable = process.stdin) {
    this.out = out;
    this.input = input;
  }

  /** One status line, prefixed so it stands out among kernel messages. */
  line(text: string): void {
    const l = `imgsrv: ${text}\n`;
    if (this.held) this.held.push(l);
    else this.out.write(l);
  }

  /** A block the operator must not miss (a failure): framed, never held back. */
  alert(title: string, body: string): void {
    const rule = '='.repeat(72);
    this.out.write(`\n${rule}\nimgsrv: ${title}\n${rule}\n${body.trimEnd()}\n${rule}\n`);
  }

  /**
   * Ask for the hostname with `suggestion` as the default; empty input or
   * `timeoutSec` without an answer takes the suggestion. Invalid names are
   * refused with the reason and asked again (the deadline stays).
   */
  async promptHostname(suggestion: string, timeoutSec: number): Promise<{ hostname: string; how: 'typed' | 'default' | 'timeout' }> {
    if (timeoutSec <= 0) return { hostname: suggestion, how: 'timeout' };
    this.held = [];
    const rl = createInterface({ input: this.input, output: this.out, terminal: false });
    const deadline = Date.now() + timeoutSec * 1000;
    const ask = (): void => {
      const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      this.out.write(`\nHostname for this node [${suggestion}] (Enter accepts, ${left} s): `);
    };
    try {
      return await new Promise((resolve) => {
        const timer = setTimeout(() => {
          this.out.write(`\nimgsrv: no answer in ${timeoutSec} s, using ${suggestion}\n`);
          resolve({ hostname: suggestion, how: 'timeout' });
        }, timeoutSec * 1000);
        const done = (r: { hostname: string; how: 'typed' | 'default' | 'timeout' }): void => {
          clearTimeout(timer);
          resolve(r);
        };
        rl.on('line', (raw) => {
          const name = raw.trim().toLowerCase();
          if (name === '') return done({ hostname: suggestion, how: 'default' });
          if (HOSTNAME_RE.test(name)) return done({ hostname: name, how: 'typed' });
          this.out.write(`imgsrv: "${raw.trim().slice(0, 80)}" is not a valid hostname (letters, digits and "-", labels separated by ".", 63 characters at most)\n`);
          ask();
        });
        // No console to read from (closed stdin): nobody can answer, take the suggestion.
        rl.on('close', () => done({ hostname: suggestion, how: 'timeout' }));
        ask();
      });
    } finally {
      rl.removeAllListeners('close');
      rl.close();
      const held = this.held;
      this.held = null;
      for (const l of held) this.out.write(l);
    }
  }
}
