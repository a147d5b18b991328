import { describe, expect, it } from 'vitest';
import { expandHostnamePattern, hostnamePatternProblem, hostnameProblem } from './hostname.ts';

describe('hostnames', () => {
  it('accepts RFC 1123 names and says what is wrong with others', () => {
    for (const ok of ['node-1', 'N1', '1node', 'a.b-c.d', 'x'.repeat(63)]) expect(hostnameProblem(ok)).toBeUndefined();
    for (const bad of ['', '-a', 'a-', 'a..b', 'a_b', 'x'.repeat(64), 'é']) expect(hostnameProblem(bad), bad).toMatch(/./);
  });

  it('expands patterns and refuses one that can only give bad names', () => {
    expect(expandHostnamePattern('Rack1-{n}-{mac}', 7, '52:54:00:AB:CD:EF')).toBe('rack1-7-525400abcdef');
    for (const ok of ['node-{n}', '{mac}', 'web{n}', 'n{n}x']) expect(hostnamePatternProblem(ok), ok).toBeUndefined();
    expect(hostnamePatternProblem('-{n}')).toMatch(/gives "-1", and "-1" may contain only/);
    expect(hostnamePatternProblem('{n}-')).toMatch(/not start or end with "-"/);
    expect(hostnamePatternProblem('node-{x}')).toMatch(/only placeholders are \{n\} and \{mac\}/);
    expect(hostnamePatternProblem('x'.repeat(60) + '{n}')).toMatch(/longer than 63/);
  });
});
