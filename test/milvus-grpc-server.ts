/**
 * A small in-memory server that speaks Milvus's gRPC protocol (the `MilvusService` of the SDK's
 * own proto files), for tests on machines where no Milvus can run. It keeps collections, rows and
 * indexes, answers exact cosine searches and simple filters, records every request (with its
 * encoded size) and can be told to fail writes. It is no Milvus: the integration test against a
 * real one runs when MILVUS_URI is set (see docs/milvus.md).
 */
import { createRequire } from "node:module";
import type * as GrpcModule from "@grpc/grpc-js";
import type { EmbeddingRow, JsonValue } from "../packages/ingest/src/documents.js";
import { compileFilter } from "../packages/ingest/src/filter.js";

const sdkRequire = createRequire(
  createRequire(import.meta.url).resolve("@zilliz/milvus2-sdk-node"),
);
const grpc = sdkRequire("@grpc/grpc-js") as typeof GrpcModule;
const protoLoader = sdkRequire("@grpc/proto-loader") as typeof import("@grpc/proto-loader");
const protobuf = sdkRequire("protobufjs") as typeof import("protobufjs");
const milvusJson = (sdkRequire("./proto-json/milvus") as { default: protobuf.INamespace }).default;

const LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

type Row = Record<string, unknown>;
type Call = (
  request: Record<string, unknown>,
) => Record<string, unknown> | Promise<Record<string, unknown>>;

/** A field as the server keeps it (decoded `FieldSchema`). */
export interface StoredField {
  fieldID: string;
  name: string;
  is_primary_key: boolean;
  data_type: string;
  type_params: { key: string; value: string }[];
  autoID?: boolean;
  description?: string;
}

/** A collection as the server keeps it. */
export interface StoredCollection {
  name: string;
  id: string;
  fields: StoredField[];
  description: string;
  consistencyLevel: string;
  indexes: { index_name: string; field_name: string; params: { key: string; value: string }[] }[];
  loaded: boolean;
  rows: Map<string, Row>;
}

/** One recorded request. */
export interface RecordedRequest {
  method: string;
  request: Record<string, unknown>;
  /** Size of the encoded request message, bytes. */
  bytes: number;
}

const OK = { error_code: "Success", reason: "", code: 0 };
const error = (reason: string, code = 1) => ({ error_code: "UnexpectedError", reason, code });

function dimOf(field: StoredField): number {
  return Number(field.type_params.find((pair) => pair.key === "dim")?.value ?? 0);
}

function columnValues(column: Record<string, unknown>, rows: number): unknown[] {
  const vectors = column.vectors as Record<string, unknown> | undefined;
  if (vectors) {
    const dim = Number(vectors.dim);
    const data = (vectors.float_vector as { data: number[] }).data;
    return Array.from({ length: rows }, (_, index) => data.slice(index * dim, (index + 1) * dim));
  }
  const scalars = column.scalars as Record<string, { data: unknown[] }> & { data: string };
  const values = scalars[scalars.data]?.data ?? [];
  if (scalars.data === "json_data") {
    return values.map((buffer) => JSON.parse(Buffer.from(buffer as Uint8Array).toString("utf8")));
  }
  return values;
}

function maxLengthOf(field: StoredField): number {
  return Number(
    field.type_params.find((pair) => pair.key === "max_length")?.value ?? Number.POSITIVE_INFINITY,
  );
}

/**
 * What Milvus's proxy refuses in an insert/upsert before storing anything: a missing or unknown
 * field, a column of another type, a column whose length is not `num_rows`, a vector of another
 * dim, a VarChar over its `max_length` (bytes). Returns the reason, or undefined when it fits.
 */
function columnProblem(
  collection: StoredCollection,
  columns: Record<string, unknown>[],
  rows: number,
): string | undefined {
  const byName = new Map(columns.map((column) => [String(column.field_name), column]));
  for (const name of byName.keys()) {
    if (!collection.fields.some((field) => field.name === name))
      return `field ${name} is not in the schema`;
  }
  for (const field of collection.fields) {
    const column = byName.get(field.name);
    if (column === undefined) {
      if (field.autoID) continue;
      return `field ${field.name} is missing`;
    }
    if (String(column.type) !== field.data_type)
      return `field ${field.name} is ${String(column.type)}, the schema says ${field.data_type}`;
    if (field.data_type === "FloatVector") {
      const vectors = column.vectors as { dim: string; float_vector?: { data: number[] } };
      const dim = Number(vectors.dim);
      if (dim !== dimOf(field))
        return `the dim of ${field.name} is ${dim}, the schema says ${dimOf(field)}`;
      if ((vectors.float_vector?.data.length ?? 0) !== rows * dim)
        return `${field.name} holds ${vectors.float_vector?.data.length ?? 0} floats for ${rows} rows of dim ${dim}`;
      continue;
    }
    const values = columnValues(column, rows);
    if (values.length !== rows)
      return `${field.name} holds ${values.length} values for ${rows} rows`;
    if (field.data_type === "VarChar") {
      const limit = maxLengthOf(field);
      const tooLong = values.find((value) => Buffer.byteLength(String(value)) > limit);
      if (tooLong !== undefined)
        return `a value of ${field.name} is longer than max_length ${limit}`;
    }
  }
  return undefined;
}

function toColumn(field: StoredField, values: unknown[]): Record<string, unknown> {
  if (field.data_type === "FloatVector") {
    return {
      type: "FloatVector",
      field_name: field.name,
      field_id: field.fieldID,
      vectors: { dim: String(dimOf(field)), float_vector: { data: values.flat() } },
    };
  }
  if (field.data_type === "JSON") {
    return {
      type: "JSON",
      field_name: field.name,
      field_id: field.fieldID,
      scalars: { json_data: { data: values.map((value) => Buffer.from(JSON.stringify(value))) } },
    };
  }
  return {
    type: field.data_type,
    field_name: field.name,
    field_id: field.fieldID,
    scalars: { string_data: { data: values.map(String) } },
  };
}

function asEmbeddingRow(row: Row): EmbeddingRow {
  return {
    id: String(row.id),
    text: String(row.text ?? ""),
    title: String(row.title ?? ""),
    metadata: (row.metadata ?? {}) as Record<string, JsonValue>,
    content_hash: String(row.content_hash ?? ""),
    vector: (row.vector ?? []) as number[],
  };
}

/** A running server. */
export interface MilvusTestServer {
  /** `127.0.0.1:PORT`, for `new MilvusClient({ address })` or `--milvus`. */
  address: string;
  collections: Map<string, StoredCollection>;
  requests: RecordedRequest[];
  /** After `after` more good ones, the next `count` Insert/Upsert calls answer an error status. */
  failWrites(count: number, after?: number): void;
  /** Requests of one method. */
  calls(method: string): RecordedRequest[];
  close(): Promise<void>;
}

/** Starts the server on 127.0.0.1 and a free port. */
export async function startMilvusTestServer(): Promise<MilvusTestServer> {
  const definition = protoLoader.fromJSON(milvusJson, LOADER_OPTIONS);
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    milvus: {
      proto: {
        milvus: {
          MilvusService: {
            service: Record<string, { requestSerialize: (value: unknown) => Buffer }>;
          };
        };
      };
    };
  };
  const service = loaded.milvus.proto.milvus.MilvusService.service;
  const root = protobuf.Root.fromJSON(milvusJson);
  const schemaType = root.lookupType("milvus.proto.schema.CollectionSchema");
  const placeholderType = root.lookupType("milvus.proto.common.PlaceholderGroup");

  const collections = new Map<string, StoredCollection>();
  const requests: RecordedRequest[] = [];
  let failures = 0;
  let goodBeforeFailures = 0;
  let nextId = 1000;

  const find = (request: Record<string, unknown>) =>
    collections.get(String(request.collection_name));

  const write = (request: Record<string, unknown>, upsert: boolean) => {
    const collection = find(request);
    if (!collection) return { status: error("collection not found", 100) };
    if (goodBeforeFailures > 0) {
      goodBeforeFailures--;
    } else if (failures > 0) {
      failures--;
      return { status: error("injected write failure", 65535) };
    }
    const columns = request.fields_data as Record<string, unknown>[];
    const count = Number(request.num_rows);
    const problem = columnProblem(collection, columns, count);
    if (problem !== undefined) return { status: error(problem, 1100) };
    const rows: Row[] = Array.from({ length: count }, () => ({}));
    for (const column of columns) {
      const values = columnValues(column, count);
      values.forEach((value, index) => {
        rows[index]![String(column.field_name)] = value;
      });
    }
    for (const row of rows) {
      const id = String(row.id);
      if (!upsert && collection.rows.has(id)) continue;
      collection.rows.set(id, row);
    }
    const ids = rows.map((row) => String(row.id));
    return {
      status: OK,
      IDs: { str_id: { data: ids } },
      succ_index: ids.map((_, index) => index),
      err_index: [],
      insert_cnt: upsert ? "0" : String(ids.length),
      upsert_cnt: upsert ? String(ids.length) : "0",
      timestamp: "1",
    };
  };

  const outputColumns = (collection: StoredCollection, rows: Row[], names: string[]) =>
    names
      .map((name) => collection.fields.find((field) => field.name === name))
      .filter((field): field is StoredField => field !== undefined)
      .map((field) =>
        toColumn(
          field,
          rows.map((row) => row[field.name]),
        ),
      );

  const handlers: Record<string, Call> = {
    Connect: () => ({
      status: OK,
      server_info: { build_tags: "gembed-test", deploy_mode: "test" },
      identifier: "1",
    }),
    GetVersion: () => ({ status: OK, version: "v2.5.0" }),
    CheckHealth: () => ({ status: OK, isHealthy: true }),
    HasCollection: (request) => ({ status: OK, value: find(request) !== undefined }),
    CreateCollection: (request) => {
      const name = String(request.collection_name);
      if (collections.has(name)) return error("collection already exists", 65535);
      const schema = schemaType.toObject(schemaType.decode(request.schema as Uint8Array), {
        enums: String,
        longs: String,
        defaults: true,
      }) as { fields: StoredField[]; description: string };
      collections.set(name, {
        name,
        id: String(nextId++),
        fields: schema.fields.map((field, index) => ({ ...field, fieldID: String(100 + index) })),
        description: schema.description,
        consistencyLevel: String(request.consistency_level),
        indexes: [],
        loaded: false,
        rows: new Map(),
      });
      return OK;
    },
    DescribeCollection: (request) => {
      const collection = find(request);
      if (!collection)
        return {
          status: error(`collection not found[collection=${String(request.collection_name)}]`, 100),
        };
      return {
        status: OK,
        schema: {
          name: collection.name,
          description: collection.description,
          fields: collection.fields,
          enable_dynamic_field: false,
        },
        collectionID: collection.id,
        collection_name: collection.name,
        consistency_level: collection.consistencyLevel,
        properties: [],
        db_name: "default",
        update_timestamp: "1",
        update_timestamp_str: "1",
      };
    },
    CreateIndex: (request) => {
      const collection = find(request);
      if (!collection) return error("collection not found", 100);
      collection.indexes.push({
        index_name: String(request.index_name || request.field_name),
        field_name: String(request.field_name),
        params: request.extra_params as { key: string; value: string }[],
      });
      return OK;
    },
    DescribeIndex: (request) => {
      const collection = find(request);
      if (!collection) return { status: error("collection not found", 100) };
      const indexes = collection.indexes.filter(
        (index) => !request.field_name || index.field_name === request.field_name,
      );
      if (indexes.length === 0)
        return { status: error("index not found", 700), index_descriptions: [] };
      return {
        status: OK,
        index_descriptions: indexes.map((index) => ({ ...index, indexID: "1", state: "Finished" })),
      };
    },
    LoadCollection: (request) => {
      const collection = find(request);
      if (!collection) return error("collection not found", 100);
      collection.loaded = true;
      return OK;
    },
    GetLoadState: (request) => {
      const collection = find(request);
      if (!collection) return { status: error("collection not found", 100) };
      return { status: OK, state: collection.loaded ? "LoadStateLoaded" : "LoadStateNotLoad" };
    },
    GetLoadingProgress: (request) => ({
      status: OK,
      progress: find(request)?.loaded ? "100" : "0",
      refresh_progress: "100",
    }),
    Insert: (request) => write(request, false),
    Upsert: (request) => write(request, true),
    Flush: () => ({ status: OK }),
    Query: (request) => {
      const collection = find(request);
      if (!collection) return { status: error("collection not found", 100) };
      const where = compileFilter(String(request.expr));
      const params = new Map(
        (request.query_params as { key: string; value: string }[]).map((pair) => [
          pair.key,
          pair.value,
        ]),
      );
      const limit = params.has("limit") ? Number(params.get("limit")) : Number.POSITIVE_INFINITY;
      const rows = [...collection.rows.values()]
        .filter((row) => where(asEmbeddingRow(row)))
        .slice(0, limit);
      const names = [...new Set(["id", ...(request.output_fields as string[])])];
      return {
        status: OK,
        fields_data: outputColumns(collection, rows, names),
        collection_name: collection.name,
        output_fields: names,
        primary_field_name: "id",
      };
    },
    Delete: (request) => {
      const collection = find(request);
      if (!collection) return { status: error("collection not found", 100) };
      const where = compileFilter(String(request.expr));
      let deleted = 0;
      for (const [id, row] of collection.rows) {
        if (where(asEmbeddingRow(row))) {
          collection.rows.delete(id);
          deleted++;
        }
      }
      return { status: OK, delete_cnt: String(deleted), IDs: { str_id: { data: [] } } };
    },
    Search: (request) => {
      const collection = find(request);
      if (!collection) return { status: error("collection not found", 100) };
      if (!collection.loaded) return { status: error("collection not loaded", 101) };
      const params = new Map(
        (request.search_params as { key: string; value: string }[]).map((pair) => [
          pair.key,
          pair.value,
        ]),
      );
      const topk = Number(params.get("topk"));
      const annsField = params.get("anns_field");
      const vectorField = collection.fields.find((field) => field.name === annsField);
      if (vectorField?.data_type !== "FloatVector")
        return {
          status: error(`anns_field ${String(annsField)} is not a FloatVector field`, 1100),
        };
      // Like Milvus: a metric other than the index's is refused (an empty one means the index's).
      const indexMetric = collection.indexes
        .find((index) => index.field_name === annsField)
        ?.params.find((pair) => pair.key === "metric_type")?.value;
      const metric = params.get("metric_type") ?? "";
      if (metric !== "" && metric !== indexMetric)
        return {
          status: error(`metric type not match: expected ${indexMetric}, actual ${metric}`, 1100),
        };
      const group = placeholderType.toObject(
        placeholderType.decode(request.placeholder_group as Uint8Array),
        { enums: String },
      ) as { placeholders: { type: string; values: Uint8Array[] }[] };
      const placeholder = group.placeholders[0]!;
      if (placeholder.type !== "FloatVector")
        return {
          status: error(`placeholder type ${placeholder.type}, expected FloatVector`, 1100),
        };
      const bytes = placeholder.values[0]!;
      const query = new Float32Array(
        bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      );
      if (query.length !== dimOf(vectorField))
        return {
          status: error(`the query has dim ${query.length}, the field ${dimOf(vectorField)}`, 1100),
        };
      const dsl = String(request.dsl ?? "");
      const where = dsl.length > 0 ? compileFilter(dsl) : () => true;
      const cosine = (vector: number[]) => {
        let dot = 0;
        let left = 0;
        let right = 0;
        vector.forEach((value, index) => {
          dot += value * query[index]!;
          left += value * value;
          right += query[index]! * query[index]!;
        });
        return dot / Math.sqrt(left * right);
      };
      const hits = [...collection.rows.values()]
        .filter((row) => where(asEmbeddingRow(row)))
        .map((row) => ({ row, score: cosine(row.vector as number[]) }))
        .sort((left, right) => right.score - left.score)
        .slice(0, topk);
      // Like Milvus's proxy, the primary key is always among the output fields.
      const names = [...new Set(["id", ...(request.output_fields as string[])])];
      return {
        status: OK,
        collection_name: collection.name,
        results: {
          num_queries: "1",
          top_k: String(topk),
          fields_data: outputColumns(
            collection,
            hits.map((hit) => hit.row),
            names,
          ),
          scores: hits.map((hit) => hit.score),
          ids: { str_id: { data: hits.map((hit) => String(hit.row.id)) } },
          topks: [String(hits.length)],
          output_fields: names,
          primary_field_name: "id",
        },
      };
    },
  };

  // Milvus's proxy refuses requests over 64 MiB; grpc-js's default would be 4 MiB.
  const server = new grpc.Server({ "grpc.max_receive_message_length": 64 * 1024 * 1024 });
  const implementation: Record<string, GrpcModule.UntypedHandleCall> = {};
  for (const [method, definitionOfMethod] of Object.entries(service)) {
    implementation[method] = (
      call: GrpcModule.ServerUnaryCall<Record<string, unknown>, unknown>,
      callback: GrpcModule.sendUnaryData<unknown>,
    ) => {
      const handler = handlers[method];
      if (!handler) {
        callback({
          code: grpc.status.UNIMPLEMENTED,
          details: `${method} is not in the test server`,
        });
        return;
      }
      const request = call.request;
      requests.push({
        method,
        request,
        bytes: definitionOfMethod.requestSerialize(request).length,
      });
      Promise.resolve()
        .then(() => handler(request))
        .then(
          (response) => callback(null, response),
          (failure: unknown) => callback({ code: grpc.status.INTERNAL, details: String(failure) }),
        );
    };
  }
  server.addService(service as unknown as GrpcModule.ServiceDefinition, implementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (failure, bound) =>
      failure ? reject(failure) : resolve(bound),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    collections,
    requests,
    failWrites(count, after = 0) {
      failures = count;
      goodBeforeFailures = after;
    },
    calls: (method) => requests.filter((request) => request.method === method),
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => server.forceShutdown(), 1000).unref();
      }),
  };
}
