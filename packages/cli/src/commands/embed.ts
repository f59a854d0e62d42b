/**
 * `gembed embed "text" ...`: prints the vector of each text (one line of space-separated values
 * per text), or everything as JSON with `--json`.
 *
 * @module
 */

import { stat } from "node:fs/promises";
import { SourceError, type SourceIssue } from "@gembed/ingest";
import { type Command, Option } from "commander";
import { EmbeddingAbortedError, type EmbeddingInput, TASK_TYPES, type TaskType } from "gembed";
import { readMediaFile } from "gembed/node";
import {
  addEmbeddingOptions,
  type EmbeddingCliOptions,
  embeddingFunctionFrom,
  interruptSignal,
} from "../embedding-options.js";
import { InterruptedError, UsageError } from "../errors.js";
import { textLines } from "../text-lines.js";
import { taskOption } from "./batch.js";

interface EmbedOptions extends EmbeddingCliOptions {
  task?: TaskType | undefined;
  taskType?: TaskType | undefined;
  query?: boolean | undefined;
  title?: string | undefined;
  json?: boolean | undefined;
  file?: string[] | undefined;
}

/** The non-blank lines of standard input; a line that is not UTF-8 is a source problem (exit 2). */
async function readStdinLines(): Promise<string[]> {
  const texts: string[] = [];
  const issues: SourceIssue[] = [];
  for await (const line of textLines(process.stdin)) {
    if (line.text === undefined) {
      issues.push({
        source: `stdin line ${line.number}`,
        reason: `not valid UTF-8 at byte ${line.invalidByte} of the line`,
      });
    } else if (line.text.trim().length > 0) texts.push(line.text);
  }
  if (issues.length > 0) throw new SourceError(issues);
  return texts;
}

/** Every `--file` that is missing or not a file, at once, before anything is read or sent. */
async function checkMediaFiles(files: string[]): Promise<void> {
  const issues: SourceIssue[] = [];
  for (const file of files) {
    const info = await stat(file).catch(() => undefined);
    if (info === undefined) issues.push({ source: file, reason: "no such file (--file)" });
    else if (!info.isFile()) issues.push({ source: file, reason: "not a file (--file)" });
  }
  if (issues.length > 0) throw new SourceError(issues);
}

/** Registers `gembed embed`. */
export function registerEmbedCommand(program: Command): void {
  const command = program
    .command("embed")
    .description("embed texts and print their vectors")
    .argument("[texts...]", 'texts to embed; "-" reads one text per line from standard input')
    .option(
      "--file <paths...>",
      "images, PDFs, audio or video to embed, one vector each (needs --model gemini-embedding-2)",
    )
    .option("--query", "embed as search queries (RETRIEVAL_QUERY) instead of documents")
    .addOption(
      new Option("--task <type>", "any task type (overrides --query)").choices([...TASK_TYPES]),
    )
    // `batch submit` once called it this: taken here too, not shown.
    .addOption(new Option("--task-type <type>").choices([...TASK_TYPES]).hideHelp())
    .option("--title <title>", "title of the documents (RETRIEVAL_DOCUMENT only)")
    .option("--json", 'print {"model","dim","embeddings":[{"text","values"}]}');
  addEmbeddingOptions(command);
  command.addHelpText(
    "after",
    `
Examples:
  $ gembed embed "Alan Turing was born in London."
  $ gembed embed --query --dim 768 "Where was Alan Turing born?" --json
  $ cat lines.txt | gembed embed - --json > vectors.json
  $ gembed embed --model gemini-embedding-2 --file photo.jpg scan.pdf --json

The API key comes from GEMINI_API_KEY or GOOGLE_API_KEY.
Exit codes: 0 ok, 1 failure (API, network), 2 bad usage or input, 130 interrupted.`,
  );
  command.action(async (texts: string[], options: EmbedOptions) => {
    if (options.task !== undefined || options.taskType !== undefined)
      options.task = taskOption(options);
    const fromStdin = texts.length === 1 && texts[0] === "-";
    // "-" among other texts would be embedded as the text "-": a mistake, not a wish.
    if (!fromStdin && texts.includes("-"))
      throw new UsageError(
        '"-" reads the texts from standard input and goes alone: give "-" or texts, not both',
      );
    const inputs = fromStdin ? await readStdinLines() : texts;
    const files = options.file ?? [];
    // Nothing to embed is a usage problem (exit 2), as it is for `ingest -`.
    if (inputs.length === 0 && files.length === 0)
      throw new SourceError([
        fromStdin
          ? { source: "stdin", reason: "empty input (no line with text)" }
          : {
              source: "arguments",
              reason:
                'no text given: give texts (gembed embed "some text"), or "-" to read one per line from standard input',
            },
      ]);
    const embeddingFunction = embeddingFunctionFrom(options);
    if (files.length > 0) {
      // Files are documents (media takes no task type; see docs/multimodal.md).
      if (options.query || options.task !== undefined || options.title !== undefined)
        throw new UsageError("--file embeds documents: --query, --task and --title do not apply");
      await checkMediaFiles(files);
      const media = await Promise.all(files.map((path) => readMediaFile(path)));
      const all: EmbeddingInput[] = [...inputs, ...media];
      const vectors = await embeddingFunction.encodeDocuments(all);
      if (options.json) {
        const embeddings = [
          ...inputs.map((text, index) => ({ text, values: Array.from(vectors[index]!) })),
          ...files.map((path, position) => ({
            file: path,
            mimeType: media[position]!.media.mimeType,
            sizeBytes: media[position]!.media.data.byteLength,
            values: Array.from(vectors[inputs.length + position]!),
          })),
        ];
        process.stdout.write(
          `${JSON.stringify({ model: embeddingFunction.modelName, dim: vectors[0]?.length ?? embeddingFunction.dim, embeddings })}\n`,
        );
        return;
      }
      for (const vector of vectors) process.stdout.write(`${Array.from(vector).join(" ")}\n`);
      return;
    }
    if (options.task !== undefined) {
      // The API takes a title with RETRIEVAL_DOCUMENT only: a title dropped in silence is a surprise.
      if (options.title !== undefined && options.task !== "RETRIEVAL_DOCUMENT")
        throw new UsageError(
          `--title only applies to documents (RETRIEVAL_DOCUMENT), not to --task ${options.task}`,
        );
    } else if (options.query && options.title !== undefined) {
      throw new UsageError("--title only applies to documents, not to --query");
    }
    const documents =
      options.title !== undefined
        ? inputs.map((text) => ({ text, title: options.title! }))
        : inputs;
    // Ctrl-C stops the calls; the vectors received are paid for, so those that can be printed in
    // order (the first texts, up to the first one missing) are printed before exiting 130.
    const interrupt = interruptSignal();
    const signal = interrupt.signal;
    let vectors: (Float32Array | undefined)[];
    let stopped: EmbeddingAbortedError | undefined;
    try {
      vectors =
        options.task !== undefined
          ? await embeddingFunction.encode(
              options.task === "RETRIEVAL_DOCUMENT" ? documents : inputs,
              { taskType: options.task, signal },
            )
          : options.query
            ? await embeddingFunction.encodeQueries(inputs, { signal })
            : await embeddingFunction.encodeDocuments(documents, { signal });
    } catch (error) {
      if (!(signal.aborted && error instanceof EmbeddingAbortedError)) throw error;
      stopped = error;
      vectors = error.vectors;
    } finally {
      interrupt.dispose();
    }
    // biome-ignore lint/complexity/useIndexOf: indexOf skips the holes of a sparse array; findIndex does not.
    const firstMissing = vectors.findIndex((vector) => vector === undefined);
    const printed = firstMissing === -1 ? inputs.length : firstMissing;
    if (options.json) {
      process.stdout.write(
        `${JSON.stringify({
          model: embeddingFunction.modelName,
          dim: vectors[0]?.length ?? embeddingFunction.dim,
          embeddings: inputs
            .slice(0, printed)
            .map((text, index) => ({ text, values: Array.from(vectors[index]!) })),
        })}\n`,
      );
    } else {
      for (const vector of vectors.slice(0, printed)) {
        process.stdout.write(`${Array.from(vector!).join(" ")}\n`);
      }
    }
    if (stopped !== undefined) {
      const received = vectors.filter((vector) => vector !== undefined).length;
      throw new InterruptedError(
        `interrupted: the vectors of the first ${printed} of ${inputs.length} texts are printed, in order (${received} were received before Ctrl-C); texts ${printed + 1} to ${inputs.length}${fromStdin ? " (counting the lines of standard input with text)" : ""} were not embedded: embed those to finish.`,
        { cause: stopped },
      );
    }
  });
}
