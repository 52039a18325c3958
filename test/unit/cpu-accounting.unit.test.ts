import { describeCpu, startCpuSpan } from '../../pipeline/bench/cpu-accounting.js';

describe('CPU accounting of a drain', () => {
  test("counts a process's CPU seconds from /proc, within the machine's", () => {
    const end = startCpuSpan({ self: process.pid, gone: 999_999_999 });
    const until = performance.now() + 300;
    let x = 0;
    while (performance.now() < until) x += Math.sqrt(x + 1);
    const span = end();
    expect(x).toBeGreaterThan(0);
    expect(span.wallSeconds).toBeGreaterThanOrEqual(0.3);
    // Busy for 0.3 s of wall time: on a core for much of it (less when the machine is busy), and
    // never for more than its threads could have been (a misread field gives ticks or nonsense).
    expect(span.processes['self']).toBeGreaterThanOrEqual(0.05);
    expect(span.processes['self']).toBeLessThanOrEqual(span.wallSeconds * span.cores);
    expect(span.processes['gone']).toBe(0);
    expect(span.machineSeconds).toBeGreaterThanOrEqual((span.processes['self'] ?? 0) - 0.02);
  });

  test('describes the span in cores, busiest first, with the rest', () => {
    expect(describeCpu({ wallSeconds: 2, cores: 2, machineSeconds: 3.6, processes: { worker: 1, store: 1.6 } })).toBe('busy 1.80 of 2 cores over 2.0 s: store 0.80, worker 0.50, rest 0.50');
  });
});
