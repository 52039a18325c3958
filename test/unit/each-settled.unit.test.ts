import { setTimeout as sleep } from 'node:timers/promises';
import { eachSettled } from '../../pipeline/engine/each-settled.js';

describe('eachSettled', () => {
  test('runs every item, never more than the limit at once', async () => {
    let running = 0;
    let most = 0;
    const done: number[] = [];
    await eachSettled([1, 2, 3, 4, 5, 6, 7], 2, async (n) => {
      running += 1;
      most = Math.max(most, running);
      await sleep(5 * (n % 3));
      running -= 1;
      done.push(n);
    });
    expect(most).toBe(2);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  test('after a failure it starts nothing more, and rethrows only once the run in flight has finished', async () => {
    const started: number[] = [];
    let slowFinished = false;
    const outcome = eachSettled([1, 2, 3, 4], 2, async (n) => {
      started.push(n);
      if (n === 1) {
        await sleep(50);
        slowFinished = true;
        return;
      }
      throw new Error(`slice ${n} failed`);
    });
    await expect(outcome).rejects.toThrow('slice 2 failed');
    expect(slowFinished).toBe(true);
    expect(started).toEqual([1, 2]);
  });
});
