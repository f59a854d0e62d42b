/**
 * The core package (`gembed`) runs where only web globals exist (a browser, a worker): bundled
 * for a platform-neutral target with esbuild, it imports no Node built-in, and the bundle,
 * evaluated in a `node:vm` context given only fetch, AbortSignal, TextEncoder, streams and their
 * kin, embeds texts against the local server (what `gembed serve` runs), synchronously and
 * through the Batch API, with the same vectors as the core running on Node.
 */
import { readdir, readFile } from "node:fs/promises";
import { builtinModules } from "node:module";
import { fileURLToPath } from "node:url";
import { createContext, runInContext } from "node:vm";
import { type RunningServer, startServer } from "@gembed/server";
import { build } from "esbuild";
import { GeminiEmbeddingFunction } from "gembed";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const entry = fileURLToPath(new URL("../packages/gembed/src/index.ts", import.meta.url));
const nodeBuiltins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));

/** The core's bundle for a runtime without Node, and every import it was made from. */
async function bundleCore(): Promise<{ code: string; imports: string[] }> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform: "neutral",
    format: "iife",
    globalName: "gembed",
    target: "es2023",
    // The workspace's TypeScript source, and the core's web side of "#platform".
    conditions: ["@gembed/source"],
    metafile: true,
    logLevel: "silent",
  });
  const imports = Object.values(result.metafile.inputs).flatMap((input) =>
    input.imports.map((item) => item.path),
  );
  return { code: result.outputFiles[0]?.text ?? "", imports };
}

/** Only the globals a browser or a worker has for this work; no process, Buffer or require. */
function webContext() {
  return createContext({
    fetch,
    Headers,
    Request,
    Response,
    AbortController,
    AbortSignal,
    DOMException,
    TextEncoder,
    TextDecoder,
    ReadableStream,
    WritableStream,
    TransformStream,
    URL,
    URLSearchParams,
    setTimeout,
    clearTimeout,
    queueMicrotask,
    structuredClone,
    console,
  });
}

interface CoreModule {
  GeminiEmbeddingFunction: new (
    options: Record<string, unknown>,
  ) => {
    encodeDocuments(texts: string[], options?: Record<string, unknown>): Promise<Float32Array[]>;
    encodeQueries(texts: string[]): Promise<Float32Array[]>;
  };
  GeminiClient: new (
    options: Record<string, unknown>,
  ) => { files: { upload(source: unknown): Promise<unknown> } };
}

let server: RunningServer;
let core: CoreModule;
let imports: string[];

beforeAll(async () => {
  server = await startServer({ apiKeys: ["web-key"] });
  const bundle = await bundleCore();
  imports = bundle.imports;
  const context = webContext();
  core = runInContext(`${bundle.code}\n;gembed`, context) as CoreModule;
});
afterAll(async () => {
  await server?.close();
});

const texts = [
  "Artificial intelligence was founded as an academic discipline in 1956.",
  "Alan Turing was the first person to conduct substantial research in AI.",
  "Born in Maida Vale, London, Turing was raised in southern England.",
];

describe("the core on web globals only", () => {
  it("bundles for a neutral platform without importing a Node built-in", () => {
    expect(imports.length).toBeGreaterThan(10);
    expect(imports.filter((path) => nodeBuiltins.has(path) || path.startsWith("node:"))).toEqual(
      [],
    );
  });

  it("imports no node: module in its source, types included, but on its Node side", async () => {
    const source = fileURLToPath(new URL("../packages/gembed/src/", import.meta.url));
    // The Node side: reached only through the "node" condition of #platform and gembed/node.
    const nodeSide = new Set([
      "platform/node.ts",
      "platform/file-lock.ts",
      "util/atomic-write.ts",
      "embedding/media-node.ts",
      "node.ts",
    ]);
    const offenders: string[] = [];
    for (const file of await readdir(source, { recursive: true })) {
      if (!file.endsWith(".ts") || file.endsWith(".test.ts") || nodeSide.has(file)) continue;
      const text = await readFile(`${source}${file}`, "utf8");
      if (/from\s+"node:|import\("node:/.test(text)) offenders.push(file);
    }
    expect(offenders).toEqual([]);
  });

  it("embeds texts and queries with the vectors the core gives on Node", async () => {
    const options = {
      apiKey: "web-key",
      baseUrl: server.url,
      modelName: "gemini-embedding-001",
      config: { outputDimensionality: 256 },
    };
    const web = new core.GeminiEmbeddingFunction(options);
    const documents = await web.encodeDocuments(texts);
    const queries = await web.encodeQueries(["When was artificial intelligence founded"]);
    const onNode = new GeminiEmbeddingFunction(options);
    const expectedDocuments = await onNode.encodeDocuments(texts);
    const expectedQueries = await onNode.encodeQueries([
      "When was artificial intelligence founded",
    ]);
    expect(documents.map((vector) => Array.from(vector))).toEqual(
      expectedDocuments.map((vector) => Array.from(vector)),
    );
    expect(Array.from(queries[0] ?? [])).toEqual(Array.from(expectedQueries[0] ?? []));
    expect(documents[0]?.length).toBe(256);
    // A document and a query are embedded differently (the task type reached the server).
    expect(Array.from(queries[0] ?? [])).not.toEqual(Array.from(documents[0] ?? []));
  });

  it("runs a Batch API job (inline input, polled, results read back by key)", async () => {
    const web = new core.GeminiEmbeddingFunction({
      apiKey: "web-key",
      baseUrl: server.url,
      config: { outputDimensionality: 128 },
    });
    const before = server.stats().byEndpoint.asyncBatchEmbedContent ?? 0;
    const viaBatch = await web.encodeDocuments(texts, { mode: "batch", pollInterval: 20 });
    const viaSync = await web.encodeDocuments(texts);
    expect(server.stats().byEndpoint.asyncBatchEmbedContent).toBe(before + 1);
    expect(viaBatch.map((vector) => Array.from(vector))).toEqual(
      viaSync.map((vector) => Array.from(vector)),
    );
  });

  it("refuses a file path with a TypeError that says what to pass instead", async () => {
    const client = new core.GeminiClient({ apiKey: "web-key", baseUrl: server.url });
    const failure = await client.files.upload("input.jsonl").then(
      () => undefined,
      (error: unknown) => error,
    );
    // An error of the context's realm: checked by name, not by the test realm's TypeError.
    expect((failure as Error).name).toBe("TypeError");
    expect((failure as Error).message).toMatch(/needs a file system.*Uint8Array/);
  });
});
