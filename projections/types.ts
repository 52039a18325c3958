import type { RowChange } from '../schemas/change.js';
import type { VersionHistory } from '../schemas/versioned.js';

export type DocId = number | string;
export type Row = Record<string, unknown>;

/**
 * One source row's part of a document, with the position of the change that produced it.
 * `row: null` is a tombstone: the row was deleted at `pos`, and an older change must not bring it
 * back.
 */
export interface Slot {
  pos: number;
  row: Row | null;
}

/**
 * Everything a document is built from. Public fields are always re-rendered from this, so two
 * workers that hold the same state write the same document.
 */
export interface DocState {
  /** Own contributions, keyed `<table>:<id>` (or `<projection>:<id>` for derived ones). */
  slots: Record<string, Slot>;
  /** Copies of referenced rows, keyed `<table>:<id>`, each at the position it was read at. */
  refs: Record<string, Slot>;
  /** Per derived projection, every document id this document has ever contributed to. */
  derivedTo: Record<string, DocId[]>;
  /**
   * What revision `rev` sent to each of those documents (keyed `<projection>:<id>`): the row and
   * the position it was first sent under (pipeline/engine/derived-positions.ts).
   */
  sent?: { rev: number; to: Record<string, Slot> };
  /**
   * The `_rev` this state was written with: a read whose `_rev` differs saw parts of two writes
   * (stock mongo-java-server updates documents in place, so readers could see that) and is read again.
   */
  rev?: number;
}

/** A change to one slot of one document. */
export interface Contribution {
  docId: DocId;
  slot: string;
  row: Row | null;
  position: number;
  /** Columns absent from `row` because Debezium did not send them (TOAST): keep the old values. */
  unavailable: string[];
}

export interface DerivedContribution {
  projection: string;
  docId: DocId;
  /** null removes this document's part from the target document. */
  row: Row | null;
}

/**
 * A projection is pure: it names the tables it reads, maps a change to the slots it touches,
 * names the rows it embeds by reference, and renders a document from its state. The engine
 * (pipeline/engine/) does the consuming, guarding, batching, writing and committing.
 */
export interface Projection {
  readonly name: string;
  readonly collection: string;
  /** The version `render` writes; the engine never overwrites a document of a newer one. */
  readonly schemaVersion: number;
  /** Every document version ever written, with upcasters: what readers parse documents with. */
  readonly documents: VersionHistory<unknown>;
  /**
   * Sources whose changes own parts of the documents, and how a change maps to slots: tables by
   * name, outbox events by type (schemas/events/registry.ts).
   */
  readonly sources: Readonly<Record<string, (change: RowChange) => Contribution[]>>;
  /** Tables embedded by reference, and the columns kept of them. */
  readonly references: Readonly<Record<string, { fields: readonly string[] }>>;
  /** Indexes the read side's queries need (MongoDB key and name); built on every generation. */
  readonly readIndexes?: readonly { name: string; key: Readonly<Record<string, 1 | -1>> }[];
  /** Projections whose documents feed this one (see `derive`), by name. */
  readonly derivedFrom: readonly string[];
  /** The reference keys (`<table>:<id>`) a document needs, read off its state. */
  referencesOf(state: DocState): string[];
  /** The public document, or null while it should not be visible (no owning row, or deleted). */
  render(id: DocId, state: DocState): Row | null;
  /**
   * What this document contributes to documents of other projections, from its rendering. It must
   * depend on the document's own slots only, not on embedded copies: the engine does not re-derive
   * after a fan-out.
   */
  derive?(id: DocId, rendered: Row | null): DerivedContribution[];
}

export function slotKey(table: string, id: DocId): string {
  return `${table}:${id}`;
}

export function emptyState(): DocState {
  return { slots: {}, refs: {}, derivedTo: {} };
}
