/**
 * A name that comes from the data (a table, an event type, a key) must never index a plain object:
 * `constructor`, `__proto__` and `toString` exist on every one and return functions. Every lookup
 * of such a name goes through here.
 */
export function ownValue<T>(record: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(record, name) ? record[name] : undefined;
}

export function hasOwnName(record: object, name: string): boolean {
  return Object.hasOwn(record, name);
}
