import { PROJECTIONS } from '../../projections/registry.js';
import { orderRows } from '../../projections/order-rows.js';
import { componentOf, componentsOf, physicalName } from '../../pipeline/store/generations.js';
import { progressLine } from '../../pipeline/replay/progress-display.js';

describe('generations', () => {
  test('projections linked by derivation are one component, with every collection they write', () => {
    const components = componentsOf([...PROJECTIONS, orderRows]);
    expect(components.map((c) => c.key).sort()).toEqual(['customer_views+order_views', 'order_rows']);
    const shop = componentOf(PROJECTIONS, 'customer_views');
    expect(shop.collections.sort()).toEqual(['_ref_customers', '_ref_products', '_refidx_customer_views', '_refidx_order_views', 'customer_views', 'order_views'].sort());
  });

  test('generation 0 keeps the bare name, so stores from before generations stay readable', () => {
    expect(physicalName('order_views', 0)).toBe('order_views');
    expect(physicalName('_ref_customers', 7)).toBe('_ref_customers__g7');
  });

  test('an unknown projection is a usage error naming the known ones', () => {
    expect(() => componentOf(PROJECTIONS, 'orders')).toThrow(/unknown projection "orders"/);
  });

  test('progress lines give done, rate, lag and an ETA', () => {
    expect(progressLine('building', { done: 1500, total: 4000, perSecond: 500, lag: 2500 })).toBe('building: 1,500/4,000 events, 500 events/s, lag 2,500, ETA 5s');
    expect(progressLine('building', { done: 0, total: 10, perSecond: 0, lag: 10 })).toContain('ETA --');
  });
});
