/**
 * The child side of sandbox.ts: runs one target (fuzz or replay) and
 * prints its result as one tagged JSON line. Before each input it writes
 * the input to ./current.bin, so the parent can name the input of a hang
 * that stopped this process. Usage (from sandbox.ts only):
 *   node test/fuzz/child.ts --target NAME (--seconds N [--seed S] | --replay)
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { fuzz, replay } from './harness.ts';
import { targetByName } from './registry.ts';
import { toWire } from './sandbox.ts';

const { values } = parseArgs({ options: { target: { type: 'string' }, seconds: { type: 'string' }, seed: { type: 'string' }, replay: { type: 'boolean' } } });
const target = targetByName(values.target ?? '');
// Two syscalls per input (a few µs): cheap enough to name the input of any hang.
const current = fs.openSync('current.bin', 'w');
const onInput = (input: Buffer): void => {
  fs.writeSync(current, input, 0, input.length, 0);
  fs.ftruncateSync(current, input.length);
};
const started = performance.now();
if (values.replay) {
  const r = await replay(target, undefined, onInput);
  const seconds = (performance.now() - started) / 1000;
  const counts = { crashes: 0, hangs: 0, escapes: 0 };
  for (const f of r.findings) counts[f.kind === 'crash' ? 'crashes' : f.kind === 'hang' ? 'hangs' : 'escapes']++;
  process.stdout.write(`\n${toWire({ target: target.name, seed: 0, seconds, execs: r.replayed, regressions: r.replayed, accepted: 0, rejected: 0, ...counts, corpus: 0, reasons: {}, findings: r.findings })}\n`);
} else {
  const r = await fuzz(target, { seconds: Number(values.seconds ?? 2), seed: values.seed ? Number(values.seed) : undefined, onInput });
  process.stdout.write(`\n${toWire(r)}\n`);
}
// A target may leave handles behind (an aborted stream): the result is out, so leave.
process.exit(0);
