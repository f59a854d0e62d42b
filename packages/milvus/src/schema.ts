/**
 * The collection gembed creates, and the checks an existing collection must pass before
 * anything is written to it.
 *
 * @module
 */

import { checkNumber } from "gembed/internal";

/** The field names of a gembed collection (the same as the keys of an `EmbeddingRow`). */
export const FIELDS = {
  id: "id",
  text: "text",
  title: "title",
  metadata: "metadata",
  contentHash: "content_hash",
  vector: "vector",
} as const;

/** Largest id, in bytes. */
export const ID_MAX_LENGTH = 512;
/** Largest text, in bytes: Milvus's VarChar limit. */
export const TEXT_MAX_LENGTH = 65_535;
/** Largest title, in bytes. */
export const TITLE_MAX_LENGTH = 4_096;

/** The metric gembed uses: Gemini vectors are compared by cosine. */
export const METRIC = "COSINE";

/** A field as `MilvusClient.createCollection` takes it (`FieldType` of the SDK). */
export interface CollectionField {
  name: string;
  description: string;
  data_type: "VarChar" | "JSON" | "FloatVector";
  is_primary_key?: boolean;
  autoID?: boolean;
  max_length?: number;
  dim?: number;
}

/** An index as `createCollection({ index_params })` takes it. */
export interface CollectionIndex {
  field_name: string;
  index_type: string;
  metric_type: string;
  index_name?: string;
}

/**
 * The fields of a gembed collection for vectors of size `dim`: `id` (VarChar primary key, set by
 * gembed from the source), `text`, `title`, `metadata` (JSON), `content_hash` and `vector`
 * (FloatVector of `dim`).
 */
export function collectionFields(dim: number): CollectionField[] {
  checkNumber(dim, "dim");
  if (!Number.isInteger(dim) || dim < 1 || dim > 32_768) {
    throw new RangeError(`dim must be an integer from 1 to 32768, got ${dim}`);
  }
  return [
    {
      name: FIELDS.id,
      description: "document id, or document id#chunk",
      data_type: "VarChar",
      is_primary_key: true,
      autoID: false,
      max_length: ID_MAX_LENGTH,
    },
    {
      name: FIELDS.text,
      description: "the embedded text",
      data_type: "VarChar",
      max_length: TEXT_MAX_LENGTH,
    },
    {
      name: FIELDS.title,
      description: "title, empty when none",
      data_type: "VarChar",
      max_length: TITLE_MAX_LENGTH,
    },
    { name: FIELDS.metadata, description: "metadata, source, chunk", data_type: "JSON" },
    {
      name: FIELDS.contentHash,
      description: "SHA-256 of model, dim, title and text",
      data_type: "VarChar",
      max_length: 64,
    },
    { name: FIELDS.vector, description: "Gemini embedding", data_type: "FloatVector", dim },
  ];
}

/** The vector index: the server picks the index type (AUTOINDEX), compared by cosine. */
export function collectionIndex(): CollectionIndex {
  return {
    field_name: FIELDS.vector,
    index_type: "AUTOINDEX",
    metric_type: METRIC,
    index_name: FIELDS.vector,
  };
}

/** A field of `describeCollection`'s answer (the parts gembed reads). */
export interface DescribedField {
  name: string;
  data_type: string;
  is_primary_key?: boolean;
  dim?: unknown;
  max_length?: unknown;
  type_params?: { key: string; value: unknown }[];
}

/** An index of `describeIndex`'s answer (the parts gembed reads). */
export interface DescribedIndex {
  field_name: string;
  params: { key: string; value: unknown }[];
}

function typeParam(field: DescribedField, key: string): unknown {
  const direct = (field as unknown as Record<string, unknown>)[key];
  if (direct !== undefined) return direct;
  return field.type_params?.find((pair) => pair.key === key)?.value;
}

/**
 * Every way an existing collection does not fit vectors of size `dim` compared by cosine: a
 * missing or mistyped field, another vector dim, another metric. An empty list means it fits.
 */
export function collectionProblems(
  fields: DescribedField[],
  indexes: DescribedIndex[],
  dim: number,
): string[] {
  const problems: string[] = [];
  const byName = new Map(fields.map((field) => [field.name, field]));
  for (const wanted of collectionFields(dim)) {
    const field = byName.get(wanted.name);
    if (field === undefined) {
      problems.push(`no "${wanted.name}" field`);
      continue;
    }
    if (field.data_type !== wanted.data_type) {
      problems.push(`field "${wanted.name}" is ${field.data_type}, expected ${wanted.data_type}`);
      continue;
    }
    if (wanted.is_primary_key && !field.is_primary_key) {
      problems.push(`field "${wanted.name}" is not the primary key`);
    }
    if (wanted.data_type === "FloatVector") {
      const actual = Number(typeParam(field, "dim"));
      if (actual !== dim) {
        problems.push(`vector dim is ${actual}, the embedding function makes ${dim}`);
      }
    }
  }
  const index = indexes.find((each) => each.field_name === FIELDS.vector);
  if (index === undefined) {
    problems.push(`no index on "${FIELDS.vector}"`);
  } else {
    const metric = String(index.params.find((pair) => pair.key === "metric_type")?.value ?? "");
    if (metric.toUpperCase() !== METRIC) {
      problems.push(`vector metric is ${metric || "unknown"}, gembed needs ${METRIC}`);
    }
  }
  return problems;
}

/**
 * The collection property that names the model of its vectors (besides the description
 * `gembed: <model> embeddings`, which Milvus Lite 3.x does not keep).
 */
export const MODEL_PROPERTY = "gembed.model";

/** The model a gembed collection was written with, from `describeCollection`'s answer. */
export function collectionModel(described: {
  schema?: { description?: string } | undefined;
  properties?: { key: string; value: unknown }[] | undefined;
}): string | undefined {
  const property = described.properties?.find((pair) => pair.key === MODEL_PROPERTY)?.value;
  if (typeof property === "string" && property.length > 0) return property;
  return /^gembed: (\S+) embeddings$/.exec(described.schema?.description ?? "")?.[1];
}
