/** Reading stdin for the CLI: a secret piped for scripts or typed without echo for people, or a list piped in. */
import { ImgsrvError } from '../../core/errors.ts';

/** The first line of everything piped on stdin (scripts: `echo "$PW" | imgsrv admin password`). */
export async function readFirstLine(input: NodeJS.ReadableStream = process.stdin): Promise<string> {
  return (await readAll(input)).split(/\r?\n/)[0] ?? '';
}

/** Everything piped on stdin (`… | imgsrv nodes bulk reimage -`). */
export async function readAll(input: NodeJS.ReadableStream = process.stdin): Promise<string> {
  let text = '';
  for await (const chunk of input) text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
  return text;
}

/** Ask `question` on the terminal and read a line with echo off; Ctrl-C cancels. */
export function promptHidden(question: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WritableStream = process.stderr): Promise<string> {
  return new Promise((resolve, reject) => {
    output.write(question);
    input.setRawMode(true);
    input.setEncoding('utf8');
    input.resume();
    let value = '';
    const finish = (err?: Error): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    // Raw mode hands us every key: Enter ends the line, Backspace edits, Ctrl-C / Ctrl-D on an empty line give up.
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) return finish(new ImgsrvError('CANCELLED', 'cancelled; nothing was changed'));
        if (ch === '\u0004') return finish();
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    input.on('data', onData);
  });
}
