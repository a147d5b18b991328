// meta.json: strict schema, errors name the key path.
import { describe, expect, it } from 'vitest';
import { parseImageMeta } from './meta.ts';
import { SAMPLE_META } from './testdata/sample-meta.ts';

describe('parseImageMeta', () => {
  it('accepts a complete meta.json', () => {
    expect(parseImageMeta(JSON.parse(JSON.stringify(SAMPLE_META)))).toEqual(SAMPLE_META);
  });

  it('names the bad key path', () => {
    const bad = structuredClone(SAMPLE_META) as unknown as { host: { disks: Array<{ sizeBytes: unknown }> } };
    bad.host.disks[0]!.sizeBytes = -1;
    expect(() => parseImageMeta(bad)).toThrow(/bad meta\.json: host\.disks\.0\.sizeBytes/);
    expect(() => parseImageMeta({ ...SAMPLE_META, extra: 1 })).toThrow(/unknown key extra/);
    expect(() => parseImageMeta({ ...SAMPLE_META, format: 2 })).toThrow(/format/);
    expect(() => parseImageMeta({ ...SAMPLE_META, host: { ...SAMPLE_META.host, bootMode: 'efi' } })).toThrow(/host\.bootMode/);
  });
});
