import { formatLsn, parseLsn } from '../../pipeline/read/applied-position.js';

describe('LSNs for read-your-writes', () => {
  test('parses the text form Postgres prints and the decimal byte position', () => {
    expect(parseLsn('0/16B3748')).toBe(0x16b3748n);
    expect(parseLsn('1/0')).toBe(1n << 32n);
    expect(parseLsn('4294967296')).toBe(1n << 32n);
    expect(formatLsn(parseLsn('A/27531880') as bigint)).toBe('A/27531880');
  });

  test('refuses what is not an LSN', () => {
    for (const bad of ['', 'yesterday', '0/', '/1', '0/123456789', '-5', '1.5']) expect(parseLsn(bad)).toBeUndefined();
  });
});
