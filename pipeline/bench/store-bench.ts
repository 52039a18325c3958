import type { Document } from 'mongodb';
import type { Settings } from '../config.js';
import { connectMongo } from '../store/mongo.js';
import { timedBulks } from './timed-bulks.js';

type Doc = Document & { _id: number };

export interface StoreBenchResult {
  shape: 'pipeline' | 'raw';
  /** Documents per second, one figure per round, sorted. */
  inserts: number[];
  replaces: number[];
}

/** An orders row as Debezium delivers it (what W1 copies). */
function row(i: number): Document {
  return { id: i, customer_id: i % 500, status: 'placed', currency: 'EUR', note: `some note text here ${i}`, placed_at: '2026-11-27T10:00:00.000Z', updated_at: '2026-11-27T10:00:00.000Z' };
}

/** The document the engine stores for it: public fields, then its revision and the state it was folded from. */
function pipelineDoc(i: number, rev: number): Doc {
  return { schemaVersion: 1, ...row(i), _id: i, _rev: rev, _visible: true, _refKeys: [], _state: { slots: { [`orders:${i}`]: { pos: rev * 1_000_000 + i, row: row(i) } }, refs: {}, derivedTo: {}, rev } };
}

/** The document the sink connector and C_store write. */
function rawDoc(i: number): Doc {
  return { ...row(i), _id: i };
}

/**
 * The store's cost per document for the two shapes written in the comparison: the engine's
 * (public fields plus `_rev` and `_state`) and a raw row. Each round inserts `docs` documents into
 * a new collection, then replaces each by `_id` (what a compare-and-set costs in the store, minus
 * the `_rev` match); the shapes alternate within a round, so a store warming up (its JIT is cold
 * after a start) skews both alike. Figures for the launcher's storage choices in docs/PERFORMANCE.md.
 */
export async function storeBench(settings: Settings, options: { docs: number; rounds: number }, say: (line: string) => void): Promise<StoreBenchResult[]> {
  const client = await connectMongo(settings.mongoUrl);
  const db = client.db(`bench_store_${Date.now().toString(36)}`);
  const results: StoreBenchResult[] = [
    { shape: 'pipeline', inserts: [], replaces: [] },
    { shape: 'raw', inserts: [], replaces: [] },
  ];
  const ids = Array.from({ length: options.docs }, (_, i) => i + 1);
  try {
    for (let round = 0; round < options.rounds; round++) {
      for (const result of results) {
        const make = result.shape === 'pipeline' ? pipelineDoc : (i: number): Doc => rawDoc(i);
        const collection = db.collection<Doc>(`${result.shape}_${round}`);
        // Four bulks in flight, as the engine's compare-and-set writes go.
        result.inserts.push(ids.length / (await timedBulks(collection, ids.map((i) => ({ insertOne: { document: make(i, 1) } })), 4)));
        result.replaces.push(ids.length / (await timedBulks(collection, ids.map((i) => ({ replaceOne: { filter: { _id: i }, replacement: make(i, 2), upsert: true } })), 4)));
      }
      say(`  round ${round + 1}/${options.rounds}: ${results.map((r) => `${r.shape} ${Math.round(r.inserts.at(-1) ?? 0)} inserts/s, ${Math.round(r.replaces.at(-1) ?? 0)} replaces/s`).join('; ')}`);
    }
  } finally {
    await db.dropDatabase();
    await client.close();
  }
  for (const r of results) {
    r.inserts.sort((a, b) => a - b);
    r.replaces.sort((a, b) => a - b);
  }
  return results;
}

/** Of a sorted list. */
export function median(sorted: number[]): number {
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}
