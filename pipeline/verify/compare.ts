/** Differences between what Postgres says a projection should hold and what the store holds. */
export interface Difference {
  id: string;
  kind: 'missing' | 'unexpected' | 'different';
  /** For `different`: the first fields that differ, as paths. */
  fields: { path: string; expected: unknown; actual: unknown }[];
}

export interface VerifyReport {
  projection: string;
  expected: number;
  actual: number;
  missing: number;
  unexpected: number;
  different: number;
  differences: Difference[];
}

/** Dates compare by instant, everything else by JSON value; fields starting with "_" are internal. */
function normalise(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => !k.startsWith('_'))
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, normalise(v)]),
    );
  }
  return value;
}

function diffFields(expected: unknown, actual: unknown, path: string, out: Difference['fields']): void {
  if (JSON.stringify(expected) === JSON.stringify(actual)) return;
  const bothObjects = expected !== null && actual !== null && typeof expected === 'object' && typeof actual === 'object';
  if (!bothObjects || Array.isArray(expected) !== Array.isArray(actual)) {
    out.push({ path: path || '(document)', expected, actual });
    return;
  }
  const e = expected as Record<string, unknown>;
  const a = actual as Record<string, unknown>;
  for (const key of [...new Set([...Object.keys(e), ...Object.keys(a)])].sort()) diffFields(e[key], a[key], path === '' ? key : `${path}.${key}`, out);
}

export function compareDocuments(projection: string, expected: Map<string, unknown>, actual: Map<string, unknown>, keep = 20): VerifyReport {
  const report: VerifyReport = { projection, expected: expected.size, actual: actual.size, missing: 0, unexpected: 0, different: 0, differences: [] };
  const record = (d: Difference) => {
    report[d.kind] += 1;
    if (report.differences.length < keep) report.differences.push(d);
  };
  for (const [id, want] of expected) {
    const have = actual.get(id);
    if (have === undefined) {
      record({ id, kind: 'missing', fields: [] });
      continue;
    }
    const fields: Difference['fields'] = [];
    diffFields(normalise(want), normalise(have), '', fields);
    if (fields.length > 0) record({ id, kind: 'different', fields: fields.slice(0, 5) });
  }
  for (const id of actual.keys()) if (!expected.has(id)) record({ id, kind: 'unexpected', fields: [] });
  return report;
}
