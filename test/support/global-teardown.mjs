// The native stack stays up between runs (the next run reuses it); containers are removed.
export default async function globalTeardown() {
  await globalThis.__CDC_COMPOSE__?.down();
}
