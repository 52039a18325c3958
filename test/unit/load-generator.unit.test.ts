import { prng, toastableText } from '../../pipeline/shop/load-generator.js';

describe('load generator building blocks', () => {
  test('the PRNG repeats for a seed and differs across seeds', () => {
    const a = prng(7);
    const b = prng(7);
    const c = prng(8);
    const seqA = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(seqA);
    expect([c(), c(), c()]).not.toEqual(seqA);
    expect(seqA.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  test('toastable text has the asked length and is random hex (incompressible)', () => {
    const t = toastableText(12_001);
    expect(t).toHaveLength(12_001);
    expect(t).toMatch(/^[0-9a-f]+$/);
    expect(toastableText(64)).not.toBe(toastableText(64));
  });
});
