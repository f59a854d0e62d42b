/**
 * The shapes every ingest path shares: a source document as read, a chunk ready to embed, and a
 * row as written to Milvus or to the local bulk-import file.
 *
 * @module
 */

/** A JSON value, as kept in the `metadata` field. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/** One document as read from a file, a JSONL row or standard input. */
export interface SourceDocument {
  /**
   * Stable id: the file's path from the folder the input named, that folder's name first
   * (`corpus/a.md`, whatever the working folder), or the JSONL row's `id`.
   */
  id: string;
  /** The whole text. */
  text: string;
  /** A title (Markdown's first `# heading`, or the JSONL row's `title`). */
  title?: string;
  /** Free-form metadata (the JSONL row's `metadata`). */
  metadata?: Record<string, JsonValue>;
  /** Where it came from, e.g. `docs/a.md` or `rows.jsonl:12`. */
  source: string;
}

/** One piece of a document, small enough for the model's input limit. */
export interface DocumentChunk {
  /** The document id, or `${documentId}#${index}` when the document was split. */
  id: string;
  /** The id of the document this chunk belongs to. */
  documentId: string;
  /** 0-based position of the chunk in its document. */
  index: number;
  /** How many chunks the document was split into. */
  count: number;
  text: string;
  title?: string;
  metadata: Record<string, JsonValue>;
  source: string;
}

/**
 * One row of the collection, with Milvus's field names. The same object is inserted through the
 * Node SDK and written to the bulk-import file.
 */
export interface EmbeddingRow {
  /** Primary key (VarChar). */
  id: string;
  /** The embedded text. */
  text: string;
  /** The title, `""` when none (VarChar). */
  title: string;
  /** JSON field: the document's metadata plus `source`, `document_id`, `chunk`, `chunks`. */
  metadata: Record<string, JsonValue>;
  /** SHA-256 of what was embedded; an unchanged hash means no new embedding is needed. */
  content_hash: string;
  /** The FloatVector field, as plain numbers (what the SDK and bulk import expect). */
  vector: number[];
}
