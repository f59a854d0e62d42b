/**
 * `gembed search "query"`: ranked hits with scores, from a Milvus collection (`--milvus`) or by
 * exact cosine search over the local rows file `gembed ingest` wrote.
 *
 * @module
 */

import { access, open, stat } from "node:fs/promises";
import path from "node:path";
import {
  compileFilter,
  outputInfo,
  RowsFileError,
  searchRowStream,
  streamOutputRows,
} from "@gembed/ingest";
import { bulkImportFormat, collectionModel, FIELDS, MilvusCollection } from "@gembed/milvus";
import type { Command } from "commander";
import { modelId } from "gembed/internal";
import {
  addEmbeddingOptions,
  type EmbeddingCliOptions,
  embeddingFunctionFrom,
  integerOption,
} from "../embedding-options.js";
import { UsageError } from "../errors.js";
import { connectMilvusOption } from "../milvus-option.js";
import { addMilvusOptions, type MilvusCliOptions } from "./ingest.js";

interface SearchCliOptions extends EmbeddingCliOptions, MilvusCliOptions {
  file?: string | undefined;
  limit: number;
  filter?: string | undefined;
  json?: boolean | undefined;
}

/** One printed hit. */
export interface SearchHitOutput {
  rank: number;
  score: number;
  id: string;
  title: string;
  text: string;
  metadata: unknown;
}

function snippet(text: string, length = 160): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > length ? `${line.slice(0, length - 1)}…` : line;
}

/** Registers `gembed search`. */
export function registerSearchCommand(program: Command): void {
  const command = program
    .command("search")
    .description("search a collection (or the local rows file) with a query text")
    .argument("<query>", "the query text (embedded as RETRIEVAL_QUERY)");
  addMilvusOptions(command)
    .option(
      "--file <file>",
      "local rows file to search when no --milvus (default: <collection>.json)",
    )
    .option("--limit <n>", "hits to print", integerOption("--limit", 1, 16_384), 5)
    .option("--filter <expr>", 'Milvus boolean expression, e.g. \'metadata["lang"] == "en"\'')
    .option("--json", "print the hits as JSON");
  addEmbeddingOptions(command);
  command.addHelpText(
    "after",
    `
Examples:
  $ gembed search "Where was Alan Turing born?"                      # exact search over ./gembed.json
  $ gembed search "Turing" --collection notes --limit 3 --json       # over ./notes.json
  $ gembed search "AI history" --milvus http://127.0.0.1:19530 --collection docs --filter 'id like "docs/%"'

Model and dim come from the rows file (or the collection), unless --model / --dim say otherwise;
over a rows file, a --model or --dim other than the file's is refused (exit 2).
A local --filter supports ==, !=, <, <=, >, >=, in, not in, like, and, or, not on id, text,
title, content_hash and metadata["key"].
Exit codes: 0 ok (even with no hit), 1 failure, 2 bad usage or input, 130 interrupted.`,
  );
  command.action(async (query: string, options: SearchCliOptions, self: Command) => {
    const modelGiven = self.getOptionValueSource("model") !== "default";
    const hits: SearchHitOutput[] = [];
    let where: string;
    if (options.milvus) {
      const client = await connectMilvusOption(
        { ...options, milvus: options.milvus },
        { create: false },
      );
      try {
        // Vector size and model come from the collection, so a search matches its ingest.
        const described = await client.describeCollection({ collection_name: options.collection });
        const vector = described.schema?.fields?.find((field) => field.name === FIELDS.vector);
        const dim = options.dim ?? (vector ? Number(vector.dim) : undefined);
        const model = modelGiven ? options.model : (collectionModel(described) ?? options.model);
        const embeddingFunction = embeddingFunctionFrom({
          ...options,
          model,
          dim,
        });
        const collection = await MilvusCollection.open({
          client,
          collectionName: options.collection,
          embeddingFunction,
          create: false,
        });
        const found = await collection.search(query, {
          limit: options.limit,
          filter: options.filter,
        });
        found.forEach((hit, index) => {
          hits.push({
            rank: index + 1,
            score: hit.score,
            id: hit.id,
            title: String(hit.fields.title ?? ""),
            text: String(hit.fields.text ?? ""),
            metadata: hit.fields.metadata ?? {},
          });
        });
        where = `Milvus collection ${options.collection}`;
      } finally {
        await client.closeConnection();
      }
    } else {
      // Streamed over the parts of the output: memory is one row plus the hits.
      const file = path.resolve(await rowsFileOf(options.file ?? `${options.collection}.json`));
      const fileInfo = await stat(file).catch(() => undefined);
      if (fileInfo?.isDirectory()) throw new RowsFileError(`${file} is a folder, not a rows file`);
      const rows = streamOutputRows(file)[Symbol.asyncIterator]();
      const first = await rows.next();
      if (first.done) throw await noRowsError(file);
      const info = await outputInfo(file);
      const dim = options.dim ?? info?.dim ?? first.value.vector.length;
      const model = modelGiven ? options.model : (info?.model ?? options.model);
      // Vectors of two models (or two dims) are not comparable: a score between them means nothing.
      const stored = info ?? { model: undefined, dim: first.value.vector.length };
      if (
        (stored.model !== undefined && modelId(model) !== modelId(stored.model)) ||
        dim !== stored.dim
      ) {
        throw new RowsFileError(
          `${file} holds ${stored.model ?? "embedding"} vectors of dim ${stored.dim}; a query embedded with ${model} at dim ${dim} cannot be compared with them. Leave out --model and --dim to use the file's.`,
        );
      }
      const predicate = options.filter !== undefined ? filterOption(options.filter) : undefined;
      const embeddingFunction = embeddingFunctionFrom({ ...options, model, dim });
      const [vector] = await embeddingFunction.encodeQueries([query]);
      const found = await searchRowStream(
        (async function* () {
          yield first.value;
          for (let next = await rows.next(); !next.done; next = await rows.next()) yield next.value;
        })(),
        vector!,
        { limit: options.limit, where: predicate },
      );
      found.forEach((hit, index) => {
        hits.push({
          rank: index + 1,
          score: hit.score,
          id: hit.id,
          title: hit.row.title,
          text: hit.row.text,
          metadata: hit.row.metadata,
        });
      });
      where = file;
    }
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ query, source: where, hits })}\n`);
      return;
    }
    if (hits.length === 0) {
      process.stdout.write(`no hit in ${where}\n`);
      return;
    }
    for (const hit of hits) {
      process.stdout.write(
        `${hit.rank}. ${hit.score.toFixed(4)}  ${hit.id}${hit.title ? `  ${hit.title}` : ""}\n   ${snippet(hit.text)}\n`,
      );
    }
  });
}

/**
 * Why a rows file gave no row: it is not there (a typo, or no ingest yet), it is not a rows file
 * (another JSON file, a truncated one), or it is an ingest's output that holds no row.
 */
async function noRowsError(file: string): Promise<RowsFileError> {
  const info = await stat(file).catch(() => undefined);
  if (info === undefined) {
    return new RowsFileError(
      `${file}: no such rows file: check the path, or write it first (gembed ingest <docs> --out ${file})`,
    );
  }
  const handle = await open(file, "r");
  const start = Buffer.alloc(64);
  const { bytesRead } = await handle.read(start, 0, start.length, 0).finally(() => handle.close());
  const head = start.subarray(0, bytesRead).toString("utf8").replace(/\s/g, "");
  if (!head.startsWith('{"rows":[')) {
    return new RowsFileError(
      `${file} is not a rows file of gembed ingest (those start with {"rows":[, one row per line): give the --file that gembed ingest --out wrote`,
    );
  }
  return new RowsFileError(`${file} holds no rows: run gembed ingest first`);
}

/** `--filter`: a filter that does not parse is a usage error (exit 2), not a crash. */
function filterOption(expression: string): ReturnType<typeof compileFilter> {
  try {
    return compileFilter(expression);
  } catch (error) {
    if (error instanceof SyntaxError || error instanceof TypeError) {
      // The parser's own messages start with "filter: ": said once.
      throw new UsageError(`--filter: ${error.message.replace(/^filter: /, "")}`);
    }
    throw error;
  }
}

/**
 * The rows file to search for `--file`: a Parquet bulk-import file is not read (its vectors are
 * in Parquet), the rows file `ingest --out x.parquet` keeps beside it, `x.parquet.rows.json`, is;
 * when that is missing, a {@link RowsFileError} says so.
 */
async function rowsFileOf(file: string): Promise<string> {
  if (bulkImportFormat(file) !== "parquet") return file;
  const rows = `${file}.rows.json`;
  const exists = await access(rows).then(
    () => true,
    () => false,
  );
  if (!exists) {
    throw new RowsFileError(
      `${file} is a Parquet bulk-import file: search reads the rows file written beside it, ${rows}, which is not there (gembed ingest … --out ${file} writes both)`,
    );
  }
  return rows;
}
