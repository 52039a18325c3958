import { compareDocuments } from '../../pipeline/verify/compare.js';

describe('verify comparison', () => {
  test('equal documents, dates by instant and internal fields ignored, make no differences', () => {
    const r = compareDocuments('p', new Map([['1', { a: 1, at: new Date('2026-01-01T00:00:00Z') }]]), new Map([['1', { _rev: 4, a: 1, at: new Date('2026-01-01T00:00:00.000Z') }]]));
    expect(r).toMatchObject({ expected: 1, actual: 1, missing: 0, unexpected: 0, different: 0 });
  });

  test('names missing, unexpected and different documents with the differing field paths', () => {
    const r = compareDocuments(
      'p',
      new Map<string, unknown>([['1', { a: { b: 1 } }], ['2', {}]]),
      new Map<string, unknown>([['1', { a: { b: 2 } }], ['3', {}]]),
    );
    expect(r).toMatchObject({ missing: 1, unexpected: 1, different: 1 });
    expect(r.differences).toContainEqual({ id: '1', kind: 'different', fields: [{ path: 'a.b', expected: 1, actual: 2 }] });
  });
});
