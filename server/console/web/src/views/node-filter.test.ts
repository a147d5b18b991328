import { describe, expect, it } from 'vitest';
import type { NodeView } from '../types.ts';
import { filterNodes, NO_FILTER, sortNodes } from './node-filter.ts';

const node = (mac: string, extra: Partial<NodeView> = {}): NodeView => ({
  mac,
  ip: null,
  firmware: 'bios',
  arch: null,
  hostname: null,
  phase: 'booted',
  kernel: null,
  firstSeen: 0,
  lastSeen: 0,
  install: 'none',
  image: null,
  installedImage: null,
  error: null,
  seq: null,
  group: null,
  retired: null,
  ...extra,
});

const a = node('52:54:00:00:00:01', { ip: '10.0.0.10', hostname: 'db-1', group: 'rack1', phase: 'downloading', image: 'web@2' });
const b = node('52:54:00:00:00:02', { ip: '10.0.0.9', hostname: 'web-2', phase: 'failed', error: 'no disk large enough', installedImage: 'web@1' });
const c = node('52:54:00:00:00:03', { group: 'rack2', phase: 'done' });

describe('node filter and sort', () => {
  it('filters by phase, group (or none), image (override or installed) and words of text', () => {
    expect(filterNodes([a, b, c], { ...NO_FILTER, phase: 'failed' })).toEqual([b]);
    expect(filterNodes([a, b, c], { ...NO_FILTER, group: 'rack1' })).toEqual([a]);
    expect(filterNodes([a, b, c], { ...NO_FILTER, group: '-' })).toEqual([b]);
    expect(filterNodes([a, b, c], { ...NO_FILTER, image: 'web@1' })).toEqual([b]);
    expect(filterNodes([a, b, c], { ...NO_FILTER, text: 'DISK' })).toEqual([b]);
    expect(filterNodes([a, b, c], { ...NO_FILTER, text: 'rack db' })).toEqual([a]);
    expect(filterNodes([a, b, c], { ...NO_FILTER, text: '00:03' })).toEqual([c]);
  });

  it('sorts by address numerically, by phase order, nulls last, ties by MAC', () => {
    expect(sortNodes([a, b, c], { key: 'ip', dir: 'asc' }).map((n) => n.mac)).toEqual([b.mac, a.mac, c.mac]);
    expect(sortNodes([a, b, c], { key: 'ip', dir: 'desc' }).map((n) => n.mac)).toEqual([a.mac, b.mac, c.mac]);
    expect(sortNodes([c, b, a], { key: 'phase', dir: 'asc' }).map((n) => n.phase)).toEqual(['downloading', 'done', 'failed']);
    expect(sortNodes([c, b, a], { key: 'hostname', dir: 'desc' }).map((n) => n.hostname)).toEqual(['web-2', 'db-1', null]);
  });
});
