/**
 * `gembed ingest <files, folders, globs, a JSONL file or ->`: documents to rows of a Milvus
 * collection (`--milvus`), or of a local bulk-import file when no server is at hand. Restartable:
 * a second run embeds and writes only what is missing or changed.
 *
 * @module
 */

import {
  type DocumentEmbedder,
  type IngestOptions,
  type IngestProgress,
  type IngestSummary,
  ingestDocuments,
  LocalRowsFile,
  localRowsSink,
  pruneRowsFile,
  pruneScope,
  type RowSink,
  readSources,
} from "@gembed/ingest";
import { MilvusCollection, writeBulkImportFiles } from "@gembed/milvus";
import { type Command, InvalidArgumentError, Option } from "commander";
import type { FileLock } from "gembed/node";
import {
  addEmbeddingOptions,
  type EmbeddingCliOptions,
  embeddingFunctionFrom,
  integerOption,
  interruptSignal,
} from "../embedding-options.js";
import { UsageError } from "../errors.js";
import { keptByPrune, writeIngestSummary } from "../ingest-summary.js";
import {
  checkChunkTokens,
  chunkSettings,
  connectIngestMilvus,
  localOutput,
  takeLocalOutput,
} from "../ingest-target.js";
import { interruptedIngest } from "../interrupted.js";
import { mediaAwareEmbedder, splitMediaInputs } from "../media-sources.js";
import { checkOutputFile } from "../output-file.js";
import { createProgress } from "../progress.js";
import { runStreamingIngest } from "./ingest-stream.js";

/** Options shared by `ingest` and `search` to reach Milvus. */
export interface MilvusCliOptions {
  milvus?: string | undefined;
  token?: string | undefined;
  database?: string | undefined;
  collection: string;
}

export interface IngestCliOptions extends EmbeddingCliOptions, MilvusCliOptions {
  out?: string | undefined;
  chunkTokens?: number | undefined;
  overlapTokens?: number | undefined;
  batchSize: number;
  batch?: boolean | undefined;
  batchState?: string | undefined;
  pollInterval?: number | undefined;
  maxPollInterval?: number | undefined;
  json?: boolean | undefined;
  progress: boolean;
  exclude: string[];
  skipBad?: boolean | undefined;
  encoding: "utf8" | "latin1";
  prune?: boolean | undefined;
}

/** Checks a collection name the way Milvus does. */
export function collectionName(value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,254}$/.test(value)) {
    throw new InvalidArgumentError(
      "a collection name starts with a letter or _ and holds only letters, digits and _.",
    );
  }
  return value;
}

/** Adds `--milvus`, `--token`, `--database` and `--collection`. */
export function addMilvusOptions(command: Command): Command {
  return command
    .option(
      "--milvus <uri>",
      "Milvus address, e.g. http://127.0.0.1:19530, or a folder such as ./gembed.db for Milvus Lite (without it: a local file)",
    )
    .option("--token <token>", "Milvus token, user:password or an API key (default: $MILVUS_TOKEN)")
    .option("--database <name>", "Milvus database (default: default)")
    .option(
      "--collection <name>",
      "collection name (and local file <name>.json)",
      collectionName,
      "gembed",
    );
}

/** Registers `gembed ingest`. */
export function registerIngestCommand(program: Command): void {
  const command = program
    .command("ingest")
    .description("embed documents into a Milvus collection, or into a local bulk-import file")
    .argument(
      "<inputs...>",
      '.txt/.md files, folders, globs, .jsonl files of {id, text, title?, metadata?}, or "-"',
    );
  addMilvusOptions(command)
    .option(
      "--out <file>",
      "bulk-import file when no --milvus: JSON rows, or Parquet for a .parquet name (default: <collection>.json)",
    )
    .option(
      "--chunk-tokens <n>",
      "largest chunk, in tokens (default: the model's input limit)",
      integerOption("--chunk-tokens", 8),
    )
    .option(
      "--overlap-tokens <n>",
      "tokens repeated between chunks (default: a tenth)",
      integerOption("--overlap-tokens", 0),
    )
    .option(
      "--batch-size <n>",
      "chunks embedded and written per step",
      integerOption("--batch-size", 1),
      256,
    )
    .option("--batch", "embed through the Batch API (half price, slower)")
    .option(
      "--batch-state <file>",
      "resume file of --batch jobs (default: <out or collection>.batch-state.json)",
    )
    .option(
      "--poll-interval <ms>",
      "first wait between two polls of a --batch job",
      integerOption("--poll-interval", 1),
    )
    .option(
      "--max-poll-interval <ms>",
      "longest wait between two polls of a --batch job",
      integerOption("--max-poll-interval", 1),
    )
    .option(
      "--exclude <glob>",
      "leave out files whose id matches (.gitignore syntax; repeatable)",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option(
      "--skip-bad",
      "skip empty, binary and non-UTF-8 files and links out of the folder (listed) instead of stopping",
    )
    .addOption(
      new Option("--encoding <name>", "encoding of .txt/.md files")
        .choices(["utf8", "latin1"])
        .default("utf8"),
    )
    .option(
      "--prune",
      "remove the rows of files gone from the folders given (and of files not read this run)",
    )
    .option("--json", "print the summary as JSON")
    .option("--no-progress", "no progress display");
  addEmbeddingOptions(command);
  command.addHelpText(
    "after",
    `
Examples:
  $ gembed ingest docs/                                   # -> ./gembed.json (Milvus bulk-import rows)
  $ gembed ingest "notes/**/*.md" rows.jsonl --collection notes --dim 768
  $ gembed ingest docs/ --out docs.parquet                # Parquet for Milvus bulk import
  $ gembed ingest docs/ --milvus http://127.0.0.1:19530 --collection docs
  $ gembed ingest docs/ --milvus ./gembed.db --collection docs   # Milvus Lite in ./gembed.db
  $ cat rows.jsonl | gembed ingest - --milvus http://127.0.0.1:19530 --collection docs --batch
  $ gembed ingest corpus --exclude "drafts/" --exclude "*.tmp.md" --skip-bad --prune

A file's id is its path from the folder named, that folder's name first: "gembed ingest corpus"
and "cd corpus && gembed ingest ." both give corpus/a.md. Folders skip hidden files, node_modules
and the like, and what their .gitignore files ignore. --prune removes the rows of the files under
the folders given that this run did not read (deleted, excluded or skipped).

Each document is split into overlapping chunks when longer than the model's input; chunk ids are
<id>#0, <id>#1, ... Running the same ingest again writes nothing for chunks whose id, content and
metadata did not change, so an interrupted ingest is finished by running it again. A chunk whose
metadata alone changed is written again with its stored vector, without a new embedding.
The API key comes from GEMINI_API_KEY or GOOGLE_API_KEY.
Exit codes: 0 ok, 1 failure (API, Milvus, I/O), 2 bad usage or input, 130 interrupted.`,
  );
  command.action(async (inputs: string[], options: IngestCliOptions) => {
    // Images, PDFs, audio and video (gemini-embedding-2): one row per file (media-sources.ts).
    const skippedFiles: { source: string; reason: string }[] = [];
    const media = await splitMediaInputs(
      inputs,
      options.model,
      process.cwd(),
      options.skipBad ? (issue) => skippedFiles.push(issue) : undefined,
    );
    if (media.documents.length > 0 && options.batch)
      throw new UsageError("--batch does not take image, PDF, audio or video files yet");
    // Every text run streams its sources and outputs (bounded memory), --batch too
    // (ingest-batch.ts). Media runs (and folders whose media a text-only model leaves out) take
    // the path below: a row per file, whose bytes are streamed to the Files API when large,
    // never held whole. With --batch, media left out are said here and the run streams.
    if (options.batch && media.leftOut > 0)
      process.stderr.write(leftOutMessage(media.leftOut, options.model));
    if (
      media.documents.length === 0 &&
      (options.batch || (media.leftOut === 0 && skippedFiles.length === 0))
    ) {
      return runStreamingIngest(inputs, options, command);
    }
    const documents =
      media.textInputs.length > 0 || media.documents.length === 0
        ? await readSources(media.textInputs, {
            exclude: [...options.exclude, ...media.exclude],
            encoding: options.encoding,
            onSkip: options.skipBad ? (issue) => skippedFiles.push(issue) : undefined,
          })
        : [];
    documents.push(...media.documents);
    // A link out of a folder holding both text and media files is found by both walks.
    const unique = new Map(
      skippedFiles.map((issue) => [`${issue.source}\n${issue.reason}`, issue]),
    );
    skippedFiles.splice(0, skippedFiles.length, ...unique.values());
    if (media.leftOut > 0) process.stderr.write(leftOutMessage(media.leftOut, options.model));
    for (const issue of skippedFiles)
      process.stderr.write(`gembed: skipped ${issue.source}: ${issue.reason}\n`);
    const { modelLimit, chunk } = chunkSettings(options);
    checkChunkTokens(options, command, modelLimit);
    // Found before anything is paid for: a folder, or a path that cannot be written.
    const { out, parquet, base } = localOutput(options);
    if (!options.milvus) await checkOutputFile(out, "--out");
    const embeddingFunction = embeddingFunctionFrom(options);
    const dim = options.dim ?? (await embeddingFunction.resolveDim());
    const interrupt = interruptSignal();
    const progress = options.progress
      ? createProgress({ label: "ingest", unit: "chunks" })
      : undefined;
    let close: () => Promise<void> = async () => {};
    let finish: () => Promise<void> = async () => {};
    let sink: RowSink;
    let target: string;
    let reuse: IngestOptions["reuse"];
    let onWriteFailure: IngestOptions["onWriteFailure"];
    let prune: () => Promise<number> = async () => 0;
    let succeeded = false;
    let lock: FileLock | undefined;
    let last: IngestProgress | undefined;
    try {
      if (options.milvus) {
        const milvus = await connectIngestMilvus({ ...options, milvus: options.milvus });
        const { client, unwritten } = milvus;
        close = milvus.close;
        const collection = await MilvusCollection.open({
          client,
          collectionName: options.collection,
          embeddingFunction,
        });
        sink = collection.asSink({ signal: interrupt.signal });
        prune = async () =>
          collection.pruneDocuments(await pruneScope(inputs), keptByPrune(documents, skippedFiles));
        target = milvus.target;
        reuse = unwritten.reuse;
        onWriteFailure = unwritten.onWriteFailure;
        finish = () => unwritten.finish(succeeded);
      } else {
        lock = await takeLocalOutput(base);
        const file = await LocalRowsFile.open(base, {
          model: embeddingFunction.modelName,
          dim,
        });
        sink = localRowsSink(file);
        prune = async () =>
          pruneRowsFile(file, await pruneScope(inputs), keptByPrune(documents, skippedFiles));
        // The journal is merged even when the run stops early: what was paid for is kept.
        finish = async () => {
          await file.commit();
          if (parquet && succeeded) await writeBulkImportFiles(file.rows(), { out, dim });
        };
        target = parquet ? out : file.path;
      }
      const embedder: DocumentEmbedder =
        media.documents.length > 0
          ? mediaAwareEmbedder(embeddingFunction, media.files)
          : embeddingFunction;
      let summary: IngestSummary & { pruned?: number };
      try {
        summary = await ingestDocuments(documents, {
          embedder,
          sink,
          chunk,
          batchSize: options.batchSize,
          signal: interrupt.signal,
          onProgress: (state) => {
            last = state;
            progress?.update(state.done, state.total, `unchanged ${state.skipped}`);
          },
          reuse,
          onWriteFailure,
        });
        // Only after a whole run: an interrupted one has not seen every file it keeps.
        if (options.prune) summary = { ...summary, pruned: await prune() };
        succeeded = true;
      } catch (error) {
        // Ctrl-C: say what was kept (the pipeline wrote every vector received) and how to resume.
        throw interruptedIngest(error, { target, progress: last });
      } finally {
        progress?.stop();
        await finish();
      }
      writeIngestSummary(summary, {
        skippedFiles,
        skipBad: options.skipBad === true,
        json: options.json === true,
        target,
      });
    } finally {
      interrupt.dispose();
      await close();
      await lock?.release();
    }
  });
}

/** What a run says of the media files a text-only model leaves out of the folders. */
function leftOutMessage(count: number, model: string): string {
  return `gembed: ${count} image, PDF, audio or video file(s) in the folders left out: ${model} takes text only; use --model gemini-embedding-2 to embed them\n`;
}
