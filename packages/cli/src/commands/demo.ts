/**
 * `gembed demo`: the seed's example end to end. Embeds its three documents, answers its two
 * queries and prints `Dim` and the ranked results; with the real API when GEMINI_API_KEY or
 * GOOGLE_API_KEY is set, else against the local server started in-process; and the same through
 * a Milvus collection: MILVUS_URI (or --milvus) when set, else Milvus Lite in a temporary folder
 * when it is installed (`npm run python-env`), else in memory only. It says which store it used.
 *
 * @module
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  findMilvusLiteBin,
  isMilvusLitePath,
  MILVUS_LITE_INSTALL_COMMAND,
  MilvusCollection,
  MilvusLiteMissingError,
} from "@gembed/milvus";
import type { Command } from "commander";
import {
  addEmbeddingOptions,
  type EmbeddingCliOptions,
  embeddingFunctionFrom,
  isLoopbackUrl,
} from "../embedding-options.js";
import { connectMilvusOption } from "../milvus-option.js";
import { collectionName } from "./ingest.js";

/** The seed's documents. */
export const DEMO_DOCUMENTS = [
  "Artificial intelligence was founded as an academic discipline in 1956.",
  "Alan Turing was the first person to conduct substantial research in AI.",
  "Born in Maida Vale, London, Turing was raised in southern England.",
] as const;

/** The seed's queries, and the document each one is about. */
export const DEMO_QUERIES = [
  { query: "When was artificial intelligence founded", expected: 0 },
  { query: "Where was Alan Turing born?", expected: 2 },
] as const;

interface DemoOptions extends EmbeddingCliOptions {
  local?: boolean | undefined;
  /** A URI or folder; false with --no-milvus. */
  milvus?: string | false | undefined;
  token?: string | undefined;
  collection: string;
  json?: boolean | undefined;
}

interface RankedResult {
  rank: number;
  score: number;
  index: number;
  document: string;
}

/** A value as numpy prints it (8 decimals at most, trailing zeros dropped): `[int, fraction]`. */
function numpyParts(value: number): [string, string] {
  const [whole = "0", fraction = ""] = value.toFixed(8).split(".");
  return [whole, `.${fraction.replace(/0+$/, "")}`];
}

/**
 * A vector the way the seed's Python prints one (`repr` of a numpy array longer than its print
 * threshold): the first and last three values, aligned, wrapped at 75 columns, and the shape.
 * `Dim` and these lines are the seed's "expected output".
 */
export function formatNumpyArray(vector: ArrayLike<number>): string {
  const length = vector.length;
  const shown =
    length > 6
      ? [0, 1, 2, length - 3, length - 2, length - 1].map((index) => vector[index]!)
      : Array.from(vector);
  const parts = shown.map(numpyParts);
  const wholeWidth = Math.max(...parts.map(([whole]) => whole.length));
  const fractionWidth = Math.max(...parts.map(([, fraction]) => fraction.length));
  const words = parts.map(
    ([whole, fraction]) => whole.padStart(wholeWidth) + fraction.padEnd(fractionWidth),
  );
  if (length > 6) words.splice(3, 0, "...");
  const prefix = "array([";
  const suffix = length > 6 ? `], shape=(${length},))` : "])";
  const lines: string[] = [];
  let line = prefix;
  words.forEach((word, index) => {
    const last = index === words.length - 1;
    const piece = last ? word : `${word},`;
    const start = line === prefix ? "" : " ";
    const extra = last ? suffix.length : 0;
    if (line !== prefix && line.length + start.length + piece.length + extra > 75) {
      lines.push(line);
      line = " ".repeat(prefix.length) + piece;
    } else {
      line += start + piece;
    }
  });
  lines.push(line + suffix);
  return lines.join("\n");
}

/** A Milvus URI as printed: `user:password@` (a token in the URI) is never shown. */
export function redactUri(uri: string): string {
  return uri.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^/@\s]*@/i, (_, scheme = "") => `${scheme}***@`);
}

function cosine(left: Float32Array, right: Float32Array): number {
  let dot = 0;
  let leftNorm = 0;
  let rightNorm = 0;
  for (let index = 0; index < left.length; index++) {
    dot += left[index]! * right[index]!;
    leftNorm += left[index]! * left[index]!;
    rightNorm += right[index]! * right[index]!;
  }
  return dot / Math.sqrt(leftNorm * rightNorm);
}

/** Registers `gembed demo`. */
export function registerDemoCommand(program: Command): void {
  const command = program
    .command("demo")
    .description(
      "the quick start: embed 3 documents, answer 2 queries, print Dim and the ranked results",
    )
    .option("--local", "use the in-process local server even when an API key is set")
    .option(
      "--milvus <uri>",
      "also run it through this Milvus, a URI or a Milvus Lite folder (default: $MILVUS_URI, else Milvus Lite in a temporary folder when installed)",
    )
    .option("--no-milvus", "rank in memory only, without Milvus")
    .option("--token <token>", "Milvus token (default: $MILVUS_TOKEN)")
    .option("--collection <name>", "Milvus collection for the demo", collectionName, "gembed_demo")
    .option("--json", "print everything as JSON");
  addEmbeddingOptions(command);
  command.addHelpText(
    "after",
    `
Examples:
  $ gembed demo                                   # local server, no key needed
  $ GEMINI_API_KEY=... gembed demo --dim 768      # the real API
  $ MILVUS_URI=http://127.0.0.1:19530 gembed demo # and through that Milvus
  $ gembed demo --milvus ./gembed.db              # through Milvus Lite in ./gembed.db

Exit codes: 0 ok, 1 failure (API, Milvus), 2 bad usage.`,
  );
  command.action(async (options: DemoOptions) => {
    const hasKey = Boolean(process.env.GEMINI_API_KEY || process.env.GOOGLE_API_KEY);
    const useLocal = options.local === true || (!hasKey && options.baseUrl === undefined);
    // Loaded only when used (see the serve command).
    const server = useLocal ? await (await import("@gembed/server")).startServer() : undefined;
    const lines: string[] = [];
    const say = (line: string) => {
      if (options.json) lines.push(line);
      else process.stdout.write(`${line}\n`);
    };
    try {
      const embeddingFunction = embeddingFunctionFrom(
        options,
        server ? { baseUrl: server.url, apiKey: "local-demo" } : {},
      );
      // The base URL in use: --base-url, else GOOGLE_GEMINI_BASE_URL (the client's own default).
      const baseUrl = options.baseUrl ?? (process.env.GOOGLE_GEMINI_BASE_URL || undefined);
      const shownBaseUrl = baseUrl !== undefined ? withoutSecrets(baseUrl) : undefined;
      const mode = server
        ? `the local server at ${server.url} (no GEMINI_API_KEY set)`
        : shownBaseUrl !== undefined
          ? `the server at ${shownBaseUrl}${isLoopbackUrl(shownBaseUrl) ? " (on this machine)" : ""}`
          : "the Gemini API";
      say(`gembed demo: ${embeddingFunction.modelName} through ${mode}`);
      const documentVectors = await embeddingFunction.encodeDocuments([...DEMO_DOCUMENTS]);
      const queryVectors = await embeddingFunction.encodeQueries(
        DEMO_QUERIES.map((each) => each.query),
      );
      // The seed's expected output: `print("Embeddings:", …)` and `print("Dim:", ef.dim, shape)`.
      say(`Embeddings: [${documentVectors.map(formatNumpyArray).join(", ")}]`);
      say(`Dim: ${embeddingFunction.dim} (${documentVectors[0]!.length},)`);
      say(`Embeddings: [${queryVectors.map(formatNumpyArray).join(", ")}]`);
      say(`Dim ${embeddingFunction.dim} (${queryVectors[0]!.length},)`);
      const results = DEMO_QUERIES.map((each, queryIndex) => {
        const ranked: RankedResult[] = documentVectors
          .map((vector, index) => ({
            index,
            score: cosine(queryVectors[queryIndex]!, vector),
            document: DEMO_DOCUMENTS[index]!,
            rank: 0,
          }))
          .sort((left, right) => right.score - left.score)
          .map((result, rank) => ({ ...result, rank: rank + 1 }));
        say("");
        say(`Query: ${each.query}`);
        for (const result of ranked)
          say(`  ${result.rank}. ${result.score.toFixed(4)}  ${result.document}`);
        return { query: each.query, expected: each.expected, results: ranked };
      });

      // Which store: a Milvus given, else Milvus Lite when installed, else memory only.
      let milvusUri: string | undefined;
      let store: "milvus" | "milvus-lite" | "memory" = "memory";
      let temporary: string | undefined;
      if (options.milvus !== false) {
        milvusUri = options.milvus || process.env.MILVUS_URI || undefined;
        if (milvusUri === undefined) {
          try {
            findMilvusLiteBin();
            temporary = await mkdtemp(path.join(tmpdir(), "gembed-demo-"));
            milvusUri = path.join(temporary, "demo.db");
          } catch (error) {
            if (!(error instanceof MilvusLiteMissingError)) throw error;
          }
        }
      }
      if (milvusUri !== undefined) {
        store = isMilvusLitePath(milvusUri) ? "milvus-lite" : "milvus";
      }
      const storeLine =
        store === "milvus-lite"
          ? `Milvus Lite (${temporary ? "a temporary folder" : milvusUri})`
          : store === "milvus"
            ? `Milvus at ${redactUri(milvusUri ?? "")}`
            : options.milvus === false
              ? "memory only (--no-milvus)"
              : `memory only (Milvus Lite is not installed: ${MILVUS_LITE_INSTALL_COMMAND}, or npm run python-env)`;
      let milvus:
        | { uri: string; collection: string; results: { query: string; results: RankedResult[] }[] }
        | undefined;
      if (milvusUri) {
        const client = await connectMilvusOption(
          {
            milvus: milvusUri,
            token: options.token,
            // A MILVUS_URI that does not work is named as such, not as a --milvus never given.
            option: options.milvus ? "--milvus" : temporary ? "Milvus Lite" : "MILVUS_URI",
          },
          { create: true },
        ).catch(async (error: unknown) => {
          if (temporary) await rm(temporary, { recursive: true, force: true });
          throw error;
        });
        try {
          const collection = await MilvusCollection.open({
            client,
            collectionName: options.collection,
            embeddingFunction,
          });
          await collection.upsertRows(
            DEMO_DOCUMENTS.map((text, index) => ({
              id: `doc-${index}`,
              text,
              title: "",
              metadata: { index },
              content_hash: "",
              vector: Array.from(documentVectors[index]!),
            })),
          );
          say("");
          say(`${storeLine}, collection ${options.collection}:`);
          const milvusResults: { query: string; results: RankedResult[] }[] = [];
          for (const [queryIndex, each] of DEMO_QUERIES.entries()) {
            const hits = await collection.searchVector(queryVectors[queryIndex]!, {
              limit: DEMO_DOCUMENTS.length,
              strong: true,
            });
            say(`Query: ${each.query}`);
            const ranked = hits.map((hit, rank) => {
              const index = Number(hit.id.replace("doc-", ""));
              say(`  ${rank + 1}. ${hit.score.toFixed(4)}  ${DEMO_DOCUMENTS[index] ?? hit.id}`);
              return {
                rank: rank + 1,
                score: hit.score,
                index,
                document: String(DEMO_DOCUMENTS[index] ?? hit.id),
              };
            });
            milvusResults.push({ query: each.query, results: ranked });
          }
          milvus = {
            uri: temporary ? "(temporary Milvus Lite folder)" : redactUri(milvusUri),
            collection: options.collection,
            results: milvusResults,
          };
        } finally {
          await client.closeConnection();
          if (temporary) await rm(temporary, { recursive: true, force: true });
        }
      }
      say("");
      say(`store: ${storeLine}`);
      if (options.json) {
        process.stdout.write(
          `${JSON.stringify({
            model: embeddingFunction.modelName,
            // Local: vectors of a server on this machine, in-process or at a loopback base URL.
            local:
              server !== undefined || (shownBaseUrl !== undefined && isLoopbackUrl(shownBaseUrl)),
            server: server?.url ?? shownBaseUrl ?? "https://generativelanguage.googleapis.com",
            dim: embeddingFunction.dim,
            vectorLength: documentVectors[0]!.length,
            store,
            documents: DEMO_DOCUMENTS,
            queries: results,
            // Left out by JSON.stringify when Milvus was not used.
            milvus,
          })}\n`,
        );
      }
    } finally {
      await server?.close();
    }
  });
}

/** A base URL as shown: no `user:password@`, no query (a `?key=` never reaches the output). */
function withoutSecrets(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    parsed.search = "";
    parsed.hash = "";
    return parsed.href.replace(/\/$/, "");
  } catch {
    return "(an invalid base URL)";
  }
}
