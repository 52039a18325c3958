/**
 * Exact decimal arithmetic on the strings Debezium sends for numeric columns
 * (decimal.handling.mode=string): money is never a binary float.
 */
const SCALE = 2;
const FACTOR = 10n ** BigInt(SCALE);

export function toCents(decimal: string): bigint {
  const negative = decimal.startsWith('-');
  const [whole = '0', fraction = ''] = (negative ? decimal.slice(1) : decimal).split('.');
  if (fraction.length > SCALE && /[^0]/.test(fraction.slice(SCALE))) {
    throw new RangeError(`${decimal} has more than ${SCALE} decimal places`);
  }
  const cents = BigInt(whole) * FACTOR + BigInt(fraction.slice(0, SCALE).padEnd(SCALE, '0'));
  return negative ? -cents : cents;
}

export function fromCents(cents: bigint): string {
  const negative = cents < 0n;
  const abs = negative ? -cents : cents;
  const text = `${abs / FACTOR}.${(abs % FACTOR).toString().padStart(SCALE, '0')}`;
  return negative ? `-${text}` : text;
}
