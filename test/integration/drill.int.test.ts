import { createLogger } from '../../pipeline/logger.js';
import { runDrill } from '../../pipeline/drill/drill.js';
import { FAULT_KINDS } from '../../pipeline/drill/faults.js';
import { formatDrill } from '../../pipeline/cli/commands/drill.js';
import { randomName } from '../support/shop-env.js';

describe('fault drill (short)', () => {
  test('kill -9 of each of the six components under load and an outside writer: the projections converge with 0 differences', async () => {
    const started = Date.now();
    const report = await runDrill(
      {
        durationS: 75,
        rate: 120,
        outsideRate: 20,
        faults: FAULT_KINDS.length,
        kinds: FAULT_KINDS,
        workers: 2,
        seed: 5,
        name: randomName('drill'),
        convergeTimeoutS: 240,
        keep: false,
      },
      createLogger('drill-test', process.env['LOG_LEVEL'] ?? 'warn'),
    );
    console.log(formatDrill(report, Date.now() - started));
    // Every kind of fault happened once; the store was killed right after a committed round.
    expect(report.faults).toEqual(Object.fromEntries(FAULT_KINDS.map((k) => [k, 1])));
    expect(report.transactions).toBeGreaterThan(1000);
    expect(report.verify.map((v) => v.expected).every((n) => n > 100)).toBe(true);
    expect(report.differences).toBe(0);
    expect(report.convergeMs).not.toBeNull();
  }, 900_000);
});
