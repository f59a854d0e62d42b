import { setTimeout as sleep } from "node:timers/promises";
import { inspect } from "node:util";
import {
  chunkIds,
  contentHash,
  type DocumentInput,
  type EmbeddingRow,
  type JsonValue,
  type RowSink,
  type StoredRowState,
} from "@gembed/ingest";
import type { MilvusClient } from "@zilliz/milvus2-sdk-node";
import { GembedAbortError } from "gembed";
import { checkInteger, withRetry } from "gembed/internal";
import { type BatchPlanOptions, planBatches } from "./batching.js";
import {
  MilvusOperationError,
  MilvusSchemaMismatchError,
  type MilvusStatus,
  MilvusWriteError,
} from "./errors.js";
import {
  collectionFields,
  collectionIndex,
  collectionProblems,
  type DescribedField,
  type DescribedIndex,
  FIELDS,
  ID_MAX_LENGTH,
  METRIC,
  MODEL_PROPERTY,
  TEXT_MAX_LENGTH,
  TITLE_MAX_LENGTH,
} from "./schema.js";
import { loadMilvusSdk, type MilvusSdkModule } from "./sdk.js";

/** What a collection needs of an embedding function: `GeminiEmbeddingFunction` is one. */
export interface CollectionEmbeddingFunction {
  /** The model id. */
  readonly modelName: string;
  /** The vector size: the collection's FloatVector `dim`. */
  readonly dim: number;
  /** Embeds documents (RETRIEVAL_DOCUMENT). */
  encodeDocuments(
    documents: DocumentInput[],
    options?: { signal?: AbortSignal },
  ): Promise<Float32Array[]>;
  /** Embeds queries (RETRIEVAL_QUERY). */
  encodeQueries(queries: string[], options?: { signal?: AbortSignal }): Promise<Float32Array[]>;
}

/** Options of {@link MilvusCollection.open}. */
export interface OpenCollectionOptions extends BatchPlanOptions {
  /** A connected client (see `connectMilvus`). */
  client: MilvusClient;
  /** The collection name. */
  collectionName: string;
  /** Gives the vectors; its `dim` is the collection's. */
  embeddingFunction: CollectionEmbeddingFunction;
  /**
   * Create the collection when it does not exist; when false, a missing collection is an error.
   * @default true
   */
  create?: boolean | undefined;
  /**
   * Description of a created collection.
   * @default "gembed: <model> embeddings"
   */
  description?: string | undefined;
  /**
   * Tries per batch after the first when a write fails with a retryable error (never for a
   * schema error: a wrong field, a dim mismatch, a collection that does not exist).
   * @default 3
   */
  maxRetries?: number | undefined;
  /**
   * First wait before a retry, doubled each time (a random wait between half and all of it, as
   * every retry of gembed), ms.
   * @default 500
   */
  retryDelayMs?: number | undefined;
}

/** A document as {@link MilvusCollection.addDocuments} takes it. */
export interface CollectionDocument {
  /** Primary key (at most 512 bytes). */
  id: string;
  text: string;
  title?: string;
  metadata?: Record<string, JsonValue>;
}

/** Options of the write methods. */
export interface WriteOptions {
  /** Called after each batch is written. */
  onBatch?: ((batch: { ids: string[]; written: number; total: number }) => void) | undefined;
  /** Stops between batches. */
  signal?: AbortSignal | undefined;
}

/** Options of {@link MilvusCollection.search}. */
export interface CollectionSearchOptions {
  /**
   * Hits to return.
   * @default 10
   */
  limit?: number | undefined;
  /** A Milvus boolean expression, e.g. `metadata["lang"] == "en"`. */
  filter?: string | undefined;
  /**
   * Fields returned with each hit.
   * @default ["text", "title", "metadata"]
   */
  outputFields?: string[] | undefined;
  /**
   * Read your own writes: search with Strong consistency.
   * @default false (the collection's level)
   */
  strong?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

/** One search hit. */
export interface CollectionHit {
  /** Cosine similarity (Milvus's COSINE score). */
  score: number;
  id: string;
  /** The output fields. */
  fields: Record<string, unknown>;
}

type Status = MilvusStatus;

function isSuccess(status: Status | undefined): boolean {
  if (status === undefined) return true;
  return (
    (status.error_code === "Success" ||
      status.error_code === 0 ||
      status.error_code === undefined) &&
    !status.code
  );
}

function check(operation: string, status: Status | undefined): void {
  if (status !== undefined && !isSuccess(status)) {
    throw MilvusOperationError.fromStatus(operation, status);
  }
}

/** Milvus's query window: offset + limit of one query is at most this many rows. */
export const QUERY_WINDOW_ROWS = 16_384;

/** Rows per page of {@link MilvusCollection.queryPages}. */
const QUERY_PAGE_ROWS = 4_096;

/** A JSON string literal is also a valid Milvus expression string literal. */
export function milvusStringList(values: string[]): string {
  return `[${values.map((value) => JSON.stringify(value)).join(", ")}]`;
}

/**
 * Loads a collection and waits until it is loaded: `LoadCollection`, then the progress poll
 * `GetLoadingProgress` (what the SDK's `loadCollectionSync` does), or, on a server without that
 * poll (a gRPC UNIMPLEMENTED, which the SDK's own `loadCollectionSync` turns into a TypeError),
 * `getLoadState` until it says loaded.
 */
async function loadAndWait(client: MilvusClient, collectionName: string): Promise<void> {
  const started = (await client.loadCollectionAsync({
    collection_name: collectionName,
  })) as Status;
  check(`loadCollection ${collectionName}`, started);
  let progressPoll = true;
  for (let wait = 50; ; wait = Math.min(wait * 2, 1_000)) {
    if (progressPoll) {
      const progress = await client
        .getLoadingProgress({ collection_name: collectionName })
        .catch((error: unknown) => error);
      const answer = progress as { status?: Status; progress?: unknown } | undefined;
      if (answer?.status === undefined || progress instanceof Error) {
        progressPoll = false; // this server lacks the poll (Milvus Lite): ask for the load state instead
        continue;
      }
      check(`getLoadingProgress ${collectionName}`, answer.status);
      if (Number(answer.progress) >= 100) return;
    } else {
      const state = await client.getLoadState({ collection_name: collectionName });
      check(`getLoadState ${collectionName}`, state.status);
      if (String(state.state) === "LoadStateLoaded") return;
    }
    await sleep(wait);
  }
}

/**
 * A Milvus collection for one embedding function: created with the gembed schema (VarChar `id`,
 * `text`, `title`, JSON `metadata`, `content_hash`, FloatVector `vector` of `ef.dim`, AUTOINDEX,
 * COSINE, loaded), or opened and checked against it before anything is written.
 *
 * @example
 * ```ts
 * const client = await connectMilvus({ uri: "http://127.0.0.1:19530" });
 * const docs = await MilvusCollection.open({ client, collectionName: "docs", embeddingFunction: ef });
 * await docs.addDocuments([{ id: "a", text: "Alan Turing was born in London." }]);
 * const hits = await docs.search("Where was Turing born?", { limit: 3 });
 * ```
 */
export class MilvusCollection {
  /** The collection name. */
  readonly name: string;
  /** The vector size. */
  readonly dim: number;
  /** The SDK client (holds the connection and the token: never logged). */
  readonly client: MilvusClient;
  readonly embeddingFunction: CollectionEmbeddingFunction;
  /** True when `open` created the collection. */
  readonly created: boolean;
  readonly #sdk: MilvusSdkModule;
  readonly #options: Required<BatchPlanOptions> & { maxRetries: number; retryDelayMs: number };

  private constructor(
    sdk: MilvusSdkModule,
    options: OpenCollectionOptions,
    created: boolean,
    resolved: Required<BatchPlanOptions> & { maxRetries: number; retryDelayMs: number },
  ) {
    this.#sdk = sdk;
    this.client = options.client;
    this.name = options.collectionName;
    this.embeddingFunction = options.embeddingFunction;
    this.dim = options.embeddingFunction.dim;
    this.created = created;
    this.#options = resolved;
  }

  /** Creates or opens the collection, checks it fits the embedding function, and loads it. */
  static async open(options: OpenCollectionOptions): Promise<MilvusCollection> {
    if (typeof options !== "object" || options === null)
      throw new TypeError("options must be an object");
    if (typeof options.client !== "object" || options.client === null)
      throw new TypeError("client must be a MilvusClient");
    if (
      typeof options.collectionName !== "string" ||
      !/^[A-Za-z_][A-Za-z0-9_]{0,254}$/.test(options.collectionName)
    ) {
      throw new TypeError(
        "collectionName must start with a letter or _ and hold only letters, digits and _ (Milvus's rule)",
      );
    }
    const embeddingFunction = options.embeddingFunction;
    if (
      typeof embeddingFunction?.encodeDocuments !== "function" ||
      typeof embeddingFunction.encodeQueries !== "function"
    ) {
      throw new TypeError("embeddingFunction must have encodeDocuments and encodeQueries");
    }
    const resolved = {
      maxBytes: options.maxBytes ?? 48 * 1024 * 1024,
      maxRows: options.maxRows ?? 10_000,
      maxRetries: checkInteger(options.maxRetries ?? 3, "maxRetries", 0),
      retryDelayMs: checkInteger(options.retryDelayMs ?? 500, "retryDelayMs", 0),
    };
    planBatches([], resolved); // validates maxBytes and maxRows
    const dim = embeddingFunction.dim;
    const fields = collectionFields(dim);
    const sdk = await loadMilvusSdk();
    const { client, collectionName } = options;

    const exists = await client.hasCollection({ collection_name: collectionName });
    check(`hasCollection ${collectionName}`, exists.status);
    let created = false;
    if (!exists.value) {
      if (options.create === false) {
        throw new MilvusOperationError(
          `open ${collectionName}`,
          "CollectionNotExists",
          "the collection does not exist",
        );
      }
      const result = await client.createCollection({
        collection_name: collectionName,
        description: options.description ?? `gembed: ${embeddingFunction.modelName} embeddings`,
        fields: fields.map((field) => ({ ...field })),
        index_params: [collectionIndex()],
        enable_dynamic_field: false,
        properties: { [MODEL_PROPERTY]: embeddingFunction.modelName },
      });
      check(`createCollection ${collectionName}`, result as Status);
      created = true;
    } else {
      const described = await client.describeCollection({ collection_name: collectionName });
      check(`describeCollection ${collectionName}`, described.status);
      const indexes = await client.describeIndex({
        collection_name: collectionName,
        field_name: FIELDS.vector,
      });
      const indexList = isSuccess(indexes.status) ? indexes.index_descriptions : [];
      const problems = collectionProblems(
        described.schema.fields as unknown as DescribedField[],
        indexList as unknown as DescribedIndex[],
        dim,
      );
      if (problems.length > 0) throw new MilvusSchemaMismatchError(collectionName, problems);
      const load = await client.getLoadState({ collection_name: collectionName });
      check(`getLoadState ${collectionName}`, load.status);
      if (String(load.state) !== "LoadStateLoaded") await loadAndWait(client, collectionName);
    }
    return new MilvusCollection(sdk, options, created, resolved);
  }

  /**
   * Checks documents against the schema's limits (id 1 to 512 bytes, text at most 65,535 bytes,
   * title at most 4,096 bytes) and throws a `RangeError` naming the first one that does not fit.
   * Called before anything is embedded, so no paid vector is thrown away at write time.
   */
  checkDocuments(
    documents: readonly { id: string; text: string; title?: string | undefined }[],
  ): void {
    documents.forEach((document, index) => {
      if (
        typeof document.id !== "string" ||
        document.id.length === 0 ||
        Buffer.byteLength(document.id) > ID_MAX_LENGTH
      ) {
        throw new RangeError(`row #${index}: id must be 1 to ${ID_MAX_LENGTH} bytes`);
      }
      if (typeof document.text !== "string")
        throw new TypeError(`row ${document.id}: text must be a string`);
      if (Buffer.byteLength(document.text) > TEXT_MAX_LENGTH) {
        throw new RangeError(
          `row ${document.id}: text is over ${TEXT_MAX_LENGTH} bytes (split it into chunks)`,
        );
      }
      if (document.title !== undefined && Buffer.byteLength(document.title) > TITLE_MAX_LENGTH) {
        throw new RangeError(`row ${document.id}: title is over ${TITLE_MAX_LENGTH} bytes`);
      }
    });
  }

  /** Checks rows against the schema limits before any of them is sent. */
  #validateRows(rows: EmbeddingRow[]): void {
    this.checkDocuments(rows);
    for (const row of rows) {
      if (row.vector.length !== this.dim) {
        throw new RangeError(
          `row ${row.id}: the vector has ${row.vector.length} values, the collection ${this.dim}`,
        );
      }
    }
  }

  async #write(
    kind: "insert" | "upsert",
    rows: EmbeddingRow[],
    options: WriteOptions,
  ): Promise<{ written: number; batches: number }> {
    this.#validateRows(rows);
    const batches = planBatches(rows, this.#options);
    let written = 0;
    for (const [position, batch] of batches.entries()) {
      options.signal?.throwIfAborted();
      const operation = `${kind} into ${this.name}`;
      try {
        // One retry path with the rest of gembed: a schema error (a wrong field, a dim mismatch,
        // a collection that does not exist) is not retried; the waits are abortable, so a
        // Ctrl-C stops at once (the batches before stay written).
        await withRetry(
          async () => {
            try {
              // EmbeddingRow is a RowData; the SDK's index-signature type just cannot see it.
              const request = {
                collection_name: this.name,
                data: batch as unknown as Record<string, never>[],
              };
              const result =
                kind === "upsert"
                  ? await this.client.upsert(request)
                  : await this.client.insert(request);
              check(operation, result.status);
              if (Array.isArray(result.err_index) && result.err_index.length > 0) {
                throw new MilvusOperationError(
                  operation,
                  "PartialFailure",
                  `${result.err_index.length} row(s) refused`,
                );
              }
            } catch (error) {
              throw MilvusOperationError.fromThrown(operation, error);
            }
          },
          {
            maxRetries: this.#options.maxRetries,
            baseDelay: this.#options.retryDelayMs,
            signal: options.signal,
          },
        );
      } catch (error) {
        if (error instanceof GembedAbortError) throw error;
        const pending = batches
          .slice(position)
          .flat()
          .map((row) => row.id);
        throw new MilvusWriteError(
          this.name,
          batch.map((row) => row.id),
          pending,
          written,
          error,
        );
      }
      written += batch.length;
      options.onBatch?.({ ids: batch.map((row) => row.id), written, total: rows.length });
    }
    return { written, batches: batches.length };
  }

  /**
   * Inserts or replaces rows by id, in batches under Milvus's 64 MiB request limit. A failed
   * batch is retried; if it still fails, a {@link MilvusWriteError} names its ids and the batches
   * before it stay written.
   */
  upsertRows(
    rows: EmbeddingRow[],
    options: WriteOptions = {},
  ): Promise<{ written: number; batches: number }> {
    return this.#write("upsert", rows, options);
  }

  /** Like {@link MilvusCollection.upsertRows}, but an existing id is not replaced (Milvus keeps both). */
  insertRows(
    rows: EmbeddingRow[],
    options: WriteOptions = {},
  ): Promise<{ written: number; batches: number }> {
    return this.#write("insert", rows, options);
  }

  /** Builds the rows of documents: embeds them (RETRIEVAL_DOCUMENT, with titles). */
  async toRows(
    documents: CollectionDocument[],
    options: { signal?: AbortSignal } = {},
  ): Promise<EmbeddingRow[]> {
    this.checkDocuments(documents);
    const inputs: DocumentInput[] = documents.map((document) =>
      document.title === undefined ? document.text : { text: document.text, title: document.title },
    );
    const vectors = await this.embeddingFunction.encodeDocuments(
      inputs,
      options.signal ? { signal: options.signal } : {},
    );
    return documents.map((document, index) => ({
      id: document.id,
      text: document.text,
      title: document.title ?? "",
      metadata: document.metadata ?? {},
      content_hash: contentHash({
        text: document.text,
        title: document.title,
        model: this.embeddingFunction.modelName,
        dim: this.dim,
      }),
      vector: Array.from(vectors[index]!),
    }));
  }

  /**
   * Embeds documents and upserts them (no chunking: see `ingestDocuments` for long texts).
   *
   * @example
   * ```ts
   * await docs.addDocuments([{ id: "1", text: "Artificial intelligence was founded in 1956." }]);
   * ```
   */
  async addDocuments(
    documents: CollectionDocument[],
    options: WriteOptions = {},
  ): Promise<{ written: number; batches: number }> {
    const rows = await this.toRows(documents, options.signal ? { signal: options.signal } : {});
    return this.upsertRows(rows, options);
  }

  /** Content hashes of the rows that exist among `ids` (read with Strong consistency). */
  async contentHashes(ids: string[]): Promise<Map<string, string>> {
    const hashes = new Map<string, string>();
    for (const [id, row] of await this.#rowsById(ids, [FIELDS.id, FIELDS.contentHash]))
      hashes.set(id, String(row[FIELDS.contentHash]));
    return hashes;
  }

  /**
   * Content hash and metadata of the rows that exist among `ids` (read with Strong consistency):
   * what ingest needs to tell an unchanged row from one whose metadata alone changed.
   */
  async storedRows(ids: string[]): Promise<Map<string, StoredRowState>> {
    const stored = new Map<string, StoredRowState>();
    const fields = [FIELDS.id, FIELDS.contentHash, FIELDS.metadata];
    for (const [id, row] of await this.#rowsById(ids, fields)) {
      const metadata = row[FIELDS.metadata];
      stored.set(id, {
        contentHash: String(row[FIELDS.contentHash]),
        metadata:
          typeof metadata === "object" && metadata !== null
            ? (metadata as Record<string, JsonValue>)
            : {},
      });
    }
    return stored;
  }

  /**
   * The stored vectors of the rows that exist among `ids` (read with Strong consistency), e.g. to
   * write a row again with new metadata without embedding its text again.
   */
  async storedVectors(ids: string[]): Promise<Map<string, number[]>> {
    const vectors = new Map<string, number[]>();
    // 100 rows of 3072 floats is about 1.2 MB per answer: far under gRPC's message limits.
    for (let start = 0; start < ids.length; start += 100) {
      const slice = ids.slice(start, start + 100);
      const result = await this.client.query({
        collection_name: this.name,
        filter: `${FIELDS.id} in ${milvusStringList(slice)}`,
        output_fields: [FIELDS.id, FIELDS.vector],
        consistency_level: this.#sdk.ConsistencyLevelEnum.Strong,
        limit: slice.length,
      });
      check(`query ${this.name}`, result.status);
      for (const row of result.data) {
        const vector = row[FIELDS.vector];
        if (Array.isArray(vector)) vectors.set(String(row[FIELDS.id]), vector.map(Number));
      }
    }
    return vectors;
  }

  /**
   * Every row matching `filter`, page by page: Milvus caps one query's window (offset + limit)
   * at 16,384 rows, so pages follow the primary key (`id > last`, the way pymilvus's query
   * iterator does, with the `iterator` flag that has the server order each page by key).
   */
  async *queryPages(
    filter: string,
    outputFields: string[],
    pageSize = QUERY_PAGE_ROWS,
  ): AsyncGenerator<Record<string, unknown>[]> {
    checkInteger(pageSize, "pageSize", 1);
    if (pageSize > QUERY_WINDOW_ROWS)
      throw new RangeError(`pageSize must be at most ${QUERY_WINDOW_ROWS} (Milvus's query window)`);
    let last: string | undefined;
    for (;;) {
      const result = await this.client.query({
        collection_name: this.name,
        filter:
          last === undefined ? filter : `(${filter}) and ${FIELDS.id} > ${JSON.stringify(last)}`,
        output_fields: [...new Set([FIELDS.id, ...outputFields])],
        consistency_level: this.#sdk.ConsistencyLevelEnum.Strong,
        limit: pageSize,
        params: { iterator: true },
      });
      check(`query ${this.name}`, result.status);
      const rows = result.data as Record<string, unknown>[];
      if (rows.length === 0) return;
      // The cursor is only sound if the page came in key order (Milvus compares VarChar bytes).
      const ids = rows.map((row) => Buffer.from(String(row[FIELDS.id])));
      for (let index = 1; index < ids.length; index++) {
        if (Buffer.compare(ids[index - 1]!, ids[index]!) >= 0) {
          throw new MilvusOperationError(
            `query ${this.name}`,
            "UnorderedPage",
            "the server did not return the page in primary-key order, so it cannot be paged",
          );
        }
      }
      yield rows;
      if (rows.length < pageSize) return;
      last = String(rows.at(-1)![FIELDS.id]);
    }
  }

  /**
   * A filter for `metadata["document_id"]` being one of `documentIds`: `in [...]` as Milvus
   * writes it, or, on a server whose parser refuses `in` on a JSON path (Milvus Lite 3.x),
   * the same as `==` terms joined by `or`.
   */
  #documentFilter(documentIds: string[]): string {
    const path = `${FIELDS.metadata}["document_id"]`;
    if (!this.#jsonInRefused) return `${path} in ${milvusStringList(documentIds)}`;
    return documentIds.map((id) => `${path} == ${JSON.stringify(id)}`).join(" or ");
  }

  #jsonInRefused = false;

  /**
   * Deletes the rows of these documents (by `metadata["document_id"]`) whose ids are not in `keep`,
   * whatever their ids. A filter on the metadata is read row by row over the whole collection
   * (in Python, in Milvus Lite: seconds per call at 10,000 rows): ingest uses
   * {@link MilvusCollection.removeStaleChunks}, by primary key, instead.
   */
  async removeStale(documentIds: string[], keep: Set<string>): Promise<number> {
    let removed = 0;
    for (let start = 0; start < documentIds.length; start += 200) {
      const slice = documentIds.slice(start, start + 200);
      const stale: string[] = [];
      try {
        for await (const page of this.queryPages(this.#documentFilter(slice), [FIELDS.id])) {
          for (const row of page) {
            const id = String(row[FIELDS.id]);
            if (!keep.has(id)) stale.push(id);
          }
        }
      } catch (error) {
        if (
          this.#jsonInRefused ||
          !(error instanceof MilvusOperationError) ||
          !/left side of 'in'/.test(error.reason ?? "")
        ) {
          throw error;
        }
        this.#jsonInRefused = true;
        start -= 200; // the same slice again, with the other form
        continue;
      }
      // Deleted in slices so that no expression grows without bound. Not `ids`: the SDK quotes
      // them without escaping.
      for (let at = 0; at < stale.length; at += 1_000) {
        const ids = stale.slice(at, at + 1_000);
        const deleted = await this.client.delete({
          collection_name: this.name,
          filter: `${FIELDS.id} in ${milvusStringList(ids)}`,
        });
        check(`delete from ${this.name}`, deleted.status);
        removed += ids.length;
      }
    }
    return removed;
  }

  /**
   * Deletes the chunks that documents no longer have, found by primary key only (never a filter
   * on the metadata, which every Milvus evaluates row by row over the whole collection, and
   * Milvus Lite in Python: the ingest into it slowed from 250 to 20 rows/s by 10,000 rows).
   * `count` is a document's new chunk count (0: every row of it goes). A document's ids are the
   * ones `chunkIds` gives (`<id>` alone, or `<id>#0`, `<id>#1`, ...), written in order, so a longer
   * earlier version shows at the first id past the new ones: `<id>#<count>` (and `<id>` itself
   * when the document was one chunk before). Each row found tells its own version's `chunks`, and
   * the ids up to it are asked for next; a row found at the last id asked extends the search by 64
   * (a later version cut short, whose rows say a larger count). Only rows whose `metadata["document_id"]` is the document are deleted. Returns how
   * many rows were deleted.
   */
  async removeStaleChunks(documents: readonly { id: string; count: number }[]): Promise<number> {
    interface Probe {
      id: string;
      keep: Set<string>;
      /** Numbered chunks asked for next: [next, until). */
      next: number;
      until: number;
      /** Ask for `<id>` itself (round one, when it is not kept). */
      whole: boolean;
    }
    let round: Probe[] = documents.map(({ id, count }) => {
      checkInteger(count, "count", 0);
      const keep = new Set(count === 0 ? [] : chunkIds(id, count));
      const next = count <= 1 ? 0 : count;
      return { id, keep, next, until: next + 1, whole: !keep.has(id) };
    });
    const stale = new Set<string>();
    while (round.length > 0) {
      const asked = new Set<string>();
      for (const probe of round) {
        if (probe.whole) asked.add(probe.id);
        for (let index = probe.next; index < probe.until; index++)
          asked.add(`${probe.id}#${index}`);
      }
      const found = await this.#rowsById([...asked], [FIELDS.id, FIELDS.metadata]);
      const following: Probe[] = [];
      for (const probe of round) {
        // The ids to ask for next end where the rows found say their version ends, and past a
        // row found at the last id asked (a later version may have been cut short), 64 further.
        let until = 0;
        const consider = (id: string, last: boolean) => {
          const metadata = found.get(id)?.[FIELDS.metadata] as Record<string, unknown> | undefined;
          if (metadata?.document_id !== probe.id) return;
          if (!probe.keep.has(id)) stale.add(id);
          if (typeof metadata.chunks === "number") until = Math.max(until, metadata.chunks);
          if (last) until = Math.max(until, probe.until + 64);
        };
        if (probe.whole) consider(probe.id, false);
        for (let index = probe.next; index < probe.until; index++)
          consider(`${probe.id}#${index}`, index === probe.until - 1);
        if (until > probe.until)
          following.push({ ...probe, next: probe.until, until, whole: false });
      }
      round = following;
    }
    const ids = [...stale];
    for (let at = 0; at < ids.length; at += 1_000) {
      const slice = ids.slice(at, at + 1_000);
      const deleted = await this.client.delete({
        collection_name: this.name,
        filter: `${FIELDS.id} in ${milvusStringList(slice)}`,
      });
      check(`delete from ${this.name}`, deleted.status);
    }
    return ids.length;
  }

  /**
   * The rows that exist among `ids`, by primary key (`id in [...]`, 500 per query, Strong
   * consistency): the form every Milvus answers from its primary-key index (Milvus Lite too,
   * which reads any other filter row by row).
   */
  async #rowsById(
    ids: string[],
    outputFields: string[],
  ): Promise<Map<string, Record<string, unknown>>> {
    const rows = new Map<string, Record<string, unknown>>();
    for (let start = 0; start < ids.length; start += 500) {
      const slice = ids.slice(start, start + 500);
      const result = await this.client.query({
        collection_name: this.name,
        filter: `${FIELDS.id} in ${milvusStringList(slice)}`,
        output_fields: outputFields,
        consistency_level: this.#sdk.ConsistencyLevelEnum.Strong,
        limit: slice.length,
      });
      check(`query ${this.name}`, result.status);
      for (const row of result.data) rows.set(String(row[FIELDS.id]), row);
    }
    return rows;
  }

  /**
   * Deletes the rows whose `metadata["document_id"]` starts with one of `prefixes` and is not in
   * `read` (`gembed ingest --prune`: the rows of files gone from a folder). Reads the candidates
   * page by page with a query iterator (a range filter on the id prefix, no `like` escaping), then
   * deletes them by id. Returns how many rows were deleted.
   */
  async pruneDocuments(prefixes: string[], read: { has(id: string): boolean }): Promise<number> {
    const gone: string[] = [];
    for (const prefix of prefixes) {
      if (prefix === "") continue;
      // Every string that starts with `prefix` sorts at or after it and before `prefix` with its
      // last character bumped by one.
      const end = `${prefix.slice(0, -1)}${String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)}`;
      const field = `${FIELDS.metadata}["document_id"]`;
      const iterator = await this.client.queryIterator({
        collection_name: this.name,
        filter: `${field} >= ${JSON.stringify(prefix)} and ${field} < ${JSON.stringify(end)}`,
        output_fields: [FIELDS.id, FIELDS.metadata],
        batchSize: 1000,
        consistency_level: this.#sdk.ConsistencyLevelEnum.Strong,
      });
      for await (const page of iterator as AsyncIterable<Record<string, unknown>[]>) {
        for (const row of page) {
          const metadata = row[FIELDS.metadata] as Record<string, unknown> | null | undefined;
          const documentId = metadata?.document_id;
          if (
            typeof documentId === "string" &&
            documentId.startsWith(prefix) &&
            !read.has(documentId)
          )
            gone.push(String(row[FIELDS.id]));
        }
      }
    }
    for (let start = 0; start < gone.length; start += 500) {
      const deleted = await this.client.delete({
        collection_name: this.name,
        filter: `${FIELDS.id} in ${milvusStringList(gone.slice(start, start + 500))}`,
      });
      check(`delete from ${this.name}`, deleted.status);
    }
    return gone.length;
  }

  /** This collection as the sink of `ingestDocuments`. */
  asSink(options: WriteOptions = {}): RowSink {
    return {
      check: (chunks) => this.checkDocuments(chunks),
      contentHashes: (ids) => this.contentHashes(ids),
      storedRows: (ids) => this.storedRows(ids),
      storedVectors: (ids) => this.storedVectors(ids),
      write: async (rows) => {
        await this.upsertRows(rows, options);
      },
      // By primary key: `keep` holds every chunk id of the run, so each document's new count is
      // read from it (`<id>` alone is one chunk, `<id>#0` to `<id>#<n-1>` are n).
      removeStale: (documentIds, keep) =>
        this.removeStaleChunks(
          documentIds.map((id) => {
            let count = 0;
            while (keep.has(`${id}#${count}`)) count++;
            return { id, count: count === 0 && keep.has(id) ? 1 : count };
          }),
        ),
    };
  }

  /** Searches with a vector (cosine), best first. */
  async searchVector(
    vector: Float32Array | number[],
    options: CollectionSearchOptions = {},
  ): Promise<CollectionHit[]> {
    const limit = checkInteger(options.limit ?? 10, "limit", 1);
    if (limit > 16_384)
      throw new RangeError(`limit must be at most 16384 (Milvus's topk limit), got ${limit}`);
    if (options.filter !== undefined && typeof options.filter !== "string")
      throw new TypeError("filter must be a string");
    if (vector.length !== this.dim)
      throw new RangeError(
        `the query vector has ${vector.length} values, the collection ${this.dim}`,
      );
    const outputFields = options.outputFields ?? [FIELDS.text, FIELDS.title, FIELDS.metadata];
    options.signal?.throwIfAborted();
    const request: Parameters<MilvusClient["search"]>[0] = {
      collection_name: this.name,
      anns_field: FIELDS.vector,
      data: Array.from(vector),
      limit,
      // The primary key is asked for explicitly: the SDK reads each hit's id from the fields.
      output_fields: [...new Set([FIELDS.id, ...outputFields])],
      metric_type: METRIC,
    };
    if (options.filter !== undefined && options.filter.length > 0) request.filter = options.filter;
    if (options.strong) request.consistency_level = this.#sdk.ConsistencyLevelEnum.Strong;
    const result = await this.client.search(request);
    check(`search ${this.name}`, result.status);
    const hits = result.results as unknown as Record<string, unknown>[];
    return hits.map((hit) => {
      const fields: Record<string, unknown> = {};
      for (const name of outputFields) if (name in hit) fields[name] = hit[name];
      return { score: Number(hit.score), id: String(hit.id), fields };
    });
  }

  /**
   * Embeds the query (RETRIEVAL_QUERY) and searches, best first.
   *
   * @example
   * ```ts
   * const hits = await docs.search("When was AI founded?", { limit: 3, filter: 'metadata["lang"] == "en"' });
   * ```
   */
  async search(query: string, options: CollectionSearchOptions = {}): Promise<CollectionHit[]> {
    if (typeof query !== "string") throw new TypeError("query must be a string");
    const [vector] = await this.embeddingFunction.encodeQueries(
      [query],
      options.signal ? { signal: options.signal } : {},
    );
    return this.searchVector(vector!, options);
  }

  /** Keeps the client (and the token it holds) out of logs. */
  [inspect.custom](): string {
    return `MilvusCollection { name: ${JSON.stringify(this.name)}, dim: ${this.dim}, model: ${JSON.stringify(this.embeddingFunction.modelName)} }`;
  }

  /** Keeps the client out of JSON too. */
  toJSON(): { name: string; dim: number; model: string } {
    return { name: this.name, dim: this.dim, model: this.embeddingFunction.modelName };
  }
}
