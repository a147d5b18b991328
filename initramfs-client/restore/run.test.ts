import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { createRunner, StepError } from './run.ts';

const runner = createRunner(silentLogger);

async function failure(p: Promise<unknown>): Promise<StepError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(StepError);
    return e as StepError;
  }
  throw new Error('did not fail');
}

describe('createRunner', () => {
  it('returns stdout and passes input, cwd and env', async () => {
    expect(await runner.run('echo', ['sh', '-c', 'cat; echo "$X"; pwd', 'sh'], { input: 'in\n', cwd: '/tmp', env: { X: 'ex' } })).toBe('in\nex\n/tmp\n');
  });

  it('throws StepError with step, argv and the tail of the combined output', async () => {
    const argv = ['sh', '-c', 'i=0; while [ $i -lt 2000 ]; do echo "line $i"; echo "err $i" >&2; i=$((i+1)); done; exit 3'];
    const err = await failure(runner.run('make things', argv));
    expect(err.step).toBe('make things');
    expect(err.argv).toEqual(argv);
    expect(err.code).toBe('STEP_FAILED');
    // two pipes: the order of stdout and stderr lines written together is not guaranteed
    expect(err.message).toMatch(/^make things: sh -c .* exited with status 3: (err|line) 199\d$/s);
    expect(err.output.length).toBeLessThanOrEqual(4096);
    expect(err.output).toContain('line 1999\n');
    expect(err.output).toContain('err 1999\n');
    expect(err.output).not.toContain('line 1\n');
  });

  it('kills a command that runs past its timeout', async () => {
    const t = Date.now();
    const err = await failure(runner.run('sleep', ['sleep', '30'], { timeoutMs: 200 }));
    expect(err.message).toMatch(/timed out after 200 ms/);
    expect(Date.now() - t).toBeLessThan(5000);
  });

  it('reports a missing program as a StepError', async () => {
    const err = await failure(runner.run('nothing', ['/nonexistent/tool']));
    expect(err.message).toMatch(/could not start/);
  });
});
