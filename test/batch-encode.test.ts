/**
 * `encodeWithBatchApi` and `BatchJob` against the local Gemini-compatible server (`gembed serve`),
 * with a processing delay so that jobs take a while.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { inspect } from "node:util";
import { startServer } from "@gembed/server";
import {
  BadRequestError,
  type BatchApiEmbedder,
  BatchDeadlineError,
  type BatchDeadlineIncompleteError,
  BatchInputChangedError,
  BatchItemsFailedError,
  BatchJob,
  BatchJobError,
  BatchJobIncompleteError,
  type BatchRunState,
  EmbeddingAbortedError,
  EmbeddingIncompleteError,
  encodeWithBatchApi,
  encodeWithBatchApiDetailed,
  GembedAbortError,
  GeminiClient,
  GeminiConnectionError,
  GeminiEmbeddingFunction,
  InvalidInputError,
  MemoryBatchStateStore,
} from "gembed";
import { requestsOf } from "gembed/internal";
import { afterAll, afterEach, describe, expect, it } from "vitest";

type Server = Awaited<ReturnType<typeof startServer>>;

const API_KEY = "batch-test-key";
const folders: string[] = [];
const servers: Server[] = [];

async function temporaryFolder(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), "gembed-batch-"));
  folders.push(folder);
  return folder;
}

async function server(
  batch: { delayPerItemMs?: number; jobLifetimeMs?: number; concurrency?: number } = {},
) {
  const running = await startServer({ batch: { delayPerItemMs: 5, ...batch } });
  servers.push(running);
  return running;
}

function embedder(url: string, dims = 128) {
  return new GeminiEmbeddingFunction({
    baseUrl: url,
    apiKey: API_KEY,
    config: { outputDimensionality: dims },
    quota: false,
  });
}

function texts(count: number, prefix = "document"): string[] {
  return Array.from({ length: count }, (_, index) => `${prefix} ${index} about topic ${index % 7}`);
}

const fast = { pollInterval: 10, maxPollInterval: 50 } as const;

afterEach(async () => {
  for (const running of servers.splice(0)) await running.close();
});
afterAll(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});

// An item the job fails on its own (an empty part), while the synchronous path embeds its input.
function itemFailingEmbedder(ef: GeminiEmbeddingFunction, marker: string): BatchApiEmbedder {
  const requests = requestsOf(ef);
  return {
    modelName: ef.modelName,
    client: ef.client,
    toVector: (values) => requests.toVector(values),
    encode: (inputs, options) => ef.encode(inputs, options),
    buildRequest: (input, taskType) => {
      const request = requests.buildRequest(input, taskType);
      const text = typeof input === "string" ? input : input.text;
      return text.includes(marker) ? { ...request, content: { parts: [{ text: "" }] } } : request;
    },
  };
}

describe("encodeWithBatchApi: the same vectors as the synchronous path", () => {
  it("inline input: one job, no file, vectors equal to encodeDocuments, in order", async () => {
    const running = await server();
    const ef = embedder(running.url);
    const docs = [...texts(30), { text: "a document with a title", title: "The title" }];
    const progress: string[] = [];
    let counts = { done: -1, total: -1 };
    const vectors = await encodeWithBatchApi(ef, docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
      onProgress: (update) => {
        progress.push(update.state);
        counts = { done: update.done, total: update.total };
      },
    });
    expect(running.stats().batchesCreated).toBe(1);
    expect(running.stats().filesUploaded).toBe(0);
    const sync = await ef.encodeDocuments(docs);
    expect(vectors).toHaveLength(docs.length);
    expect(vectors.map((vector) => Array.from(vector))).toEqual(
      sync.map((vector) => Array.from(vector)),
    );
    expect(progress.at(-1)).toBe("BATCH_STATE_SUCCEEDED");
    // The synchronous path's progress fields, so one callback fits both modes.
    expect(counts).toEqual({ done: docs.length, total: docs.length });
  });

  it("queries and other task types match their synchronous path too", async () => {
    const running = await server({ delayPerItemMs: 0 });
    const ef = embedder(running.url);
    const queries = texts(5, "query");
    const batch = await encodeWithBatchApi(ef, queries, { taskType: "RETRIEVAL_QUERY", ...fast });
    expect(batch.map((vector) => Array.from(vector))).toEqual(
      (await ef.encodeQueries(queries)).map((vector) => Array.from(vector)),
    );
    const clustering = await encodeWithBatchApi(ef, queries, { taskType: "CLUSTERING", ...fast });
    expect(clustering.map((vector) => Array.from(vector))).toEqual(
      (await ef.encode(queries, { taskType: "CLUSTERING" })).map((vector) => Array.from(vector)),
    );
    expect(Array.from(clustering[0] as Float32Array)).not.toEqual(
      Array.from(batch[0] as Float32Array),
    );
  });

  it("file input over the inline limit, and several jobs over the file limit", async () => {
    const running = await server({ delayPerItemMs: 0 });
    const ef = embedder(running.url);
    const docs = texts(60);
    const sync = await ef.encodeDocuments(docs);
    const viaFile = await encodeWithBatchApiDetailed(ef, docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
      limits: { inlineBytes: 1_000 },
    });
    expect(running.stats().filesUploaded).toBe(1);
    expect(viaFile.jobNames).toHaveLength(1);
    expect(viaFile.vectors.map((vector) => Array.from(vector ?? []))).toEqual(
      sync.map((vector) => Array.from(vector)),
    );

    const split = await encodeWithBatchApiDetailed(ef, docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
      limits: { inlineBytes: 1_000, fileBytes: 2_500 },
    });
    expect(split.jobNames.length).toBeGreaterThanOrEqual(3);
    expect(running.stats().batchesCreated).toBe(1 + split.jobNames.length);
    expect(running.stats().filesUploaded).toBe(1 + split.jobNames.length);
    expect(split.vectors.map((vector) => Array.from(vector ?? []))).toEqual(
      sync.map((vector) => Array.from(vector)),
    );
    expect(split.syncCount).toBe(0);
  });

  it("sets the display name and the priority of the job", async () => {
    const running = await server({ delayPerItemMs: 5, concurrency: 1 });
    const ef = embedder(running.url);
    const result = await encodeWithBatchApiDetailed(ef, texts(3), {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
      displayName: "nightly corpus",
      priority: 7,
    });
    const operation = await ef.client.batches.get(result.jobNames[0] as string);
    expect(operation.metadata?.displayName).toBe("nightly corpus");
    expect(operation.metadata?.priority).toBe("7");

    // Higher priority runs first: with one runner busy, a later job of priority 10 ends before an earlier one of priority 0.
    const request = (text: string) => ({
      content: { parts: [{ text }] },
      outputDimensionality: 128,
    });
    const busy = await BatchJob.create(ef.client, {
      model: ef.modelName,
      requests: texts(20).map(request),
    });
    const low = await BatchJob.create(ef.client, {
      model: ef.modelName,
      requests: [request("low")],
      priority: 0,
    });
    const high = await BatchJob.create(ef.client, {
      model: ef.modelName,
      requests: [request("high")],
      priority: "10",
    });
    await Promise.all([busy.wait(fast), low.wait(fast), high.wait(fast)]);
    expect(high.batch.priority).toBe("10");
    expect(Date.parse(high.batch.endTime ?? "")).toBeLessThanOrEqual(
      Date.parse(low.batch.endTime ?? ""),
    );
    expect(Date.parse(low.batch.endTime ?? "")).toBeGreaterThanOrEqual(
      Date.parse(busy.batch.endTime ?? ""),
    );
  });

  it("refuses bad options before any network call", async () => {
    const running = await server();
    const ef = embedder(running.url);
    const call = (options: object) =>
      encodeWithBatchApi(ef, ["a"], { taskType: "RETRIEVAL_DOCUMENT", ...options });
    await expect(call({ priority: 1.5 })).rejects.toThrow(RangeError);
    await expect(call({ priority: {} })).rejects.toThrow(TypeError);
    await expect(call({ deadline: "soon" })).rejects.toThrow(TypeError);
    await expect(call({ deadline: new Date("not a date") })).rejects.toThrow(RangeError);
    await expect(call({ deadline: Number.POSITIVE_INFINITY })).rejects.toThrow(RangeError);
    await expect(call({ pollInterval: -1 })).rejects.toThrow(RangeError);
    await expect(call({ onItemError: "ignore" })).rejects.toThrow(RangeError);
    await expect(call({ fallback: "yes" })).rejects.toThrow(TypeError);
    await expect(call({ limits: { inlineBytes: 0 } })).rejects.toThrow(RangeError);
    await expect(call({ inputKind: "lines" })).rejects.toThrow(RangeError);
    // Bad inputs are refused up front, not paid for inside a job and then failed.
    await expect(
      encodeWithBatchApi(ef, ["fine", " ", "fine too"], { taskType: "RETRIEVAL_DOCUMENT" }),
    ).rejects.toThrow(InvalidInputError);
    await expect(
      encodeWithBatchApi(ef, [{ text: "a document" }], {
        taskType: "RETRIEVAL_QUERY",
        inputKind: "queries",
      }),
    ).rejects.toThrow(InvalidInputError);
    // Neither an embedding function nor an embedder of one's own: a TypeError that says so.
    await expect(
      encodeWithBatchApi(
        { modelName: "gemini-embedding-001" } as unknown as BatchApiEmbedder,
        ["a"],
        {
          taskType: "RETRIEVAL_DOCUMENT",
        },
      ),
    ).rejects.toThrow(/GeminiEmbeddingFunction, or an embedder with buildRequest/);
    expect(running.stats().requests).toBe(0);
  });
});

describe("items that fail inside a job", () => {
  it("the lower-level BatchJob returns each failed item with its index and error", async () => {
    const running = await server();
    const client = new GeminiClient({ baseUrl: running.url, apiKey: API_KEY });
    const requests = ["one", "", "three"].map((text) => ({
      content: { parts: [{ text }] },
      outputDimensionality: 128,
    }));
    const job = await BatchJob.create(client, { model: "gemini-embedding-001", requests });
    await job.wait(fast);
    expect(job.state).toBe("BATCH_STATE_SUCCEEDED");
    expect(job.batchStats).toMatchObject({
      requestCount: 3,
      successfulRequestCount: 2,
      failedRequestCount: 1,
    });
    const results = [];
    for await (const result of job.results()) results.push(result);
    expect(results.map((result) => result.index).sort()).toEqual([0, 1, 2]);
    const failed = results.find((result) => result.index === 1);
    expect(failed?.error).toBeInstanceOf(BadRequestError);
    expect(failed?.error?.message).toMatch(/empty Part/);
    expect(results.find((result) => result.index === 2)?.values).toHaveLength(128);
  });

  it('onItemError "return": the successful vectors are kept, the failures named', async () => {
    const running = await server();
    const ef = embedder(running.url);
    const docs = texts(10);
    docs[3] = "BROKEN item";
    docs[7] = "BROKEN again";
    const error = await encodeWithBatchApi(itemFailingEmbedder(ef, "BROKEN"), docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
      onItemError: "return",
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BatchItemsFailedError);
    const failure = error as BatchItemsFailedError;
    expect(failure.failures.map((item) => item.index)).toEqual([3, 7]);
    expect(failure.failures[0]?.error).toBeInstanceOf(BadRequestError);
    expect(failure.missingIndices).toEqual([3, 7]);
    const sync = await ef.encodeDocuments(docs);
    for (const index of [0, 1, 2, 4, 5, 6, 8, 9]) {
      expect(Array.from(failure.vectors[index] ?? [])).toEqual(
        Array.from(sync[index] as Float32Array),
      );
    }
    expect(failure.vectors[3]).toBeUndefined();
    expect(running.stats().byEndpoint.batchEmbedContents ?? 0).toBe(1);
  });

  it('onItemError "resync" (the default): failed items go through the synchronous path', async () => {
    const running = await server();
    const ef = embedder(running.url);
    const docs = texts(10);
    docs[4] = "BROKEN item";
    const result = await encodeWithBatchApiDetailed(itemFailingEmbedder(ef, "BROKEN"), docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
    });
    expect(result.failures).toEqual([]);
    expect(result.syncCount).toBe(1);
    const sync = await ef.encodeDocuments(docs);
    expect(result.vectors.map((vector) => Array.from(vector ?? []))).toEqual(
      sync.map((vector) => Array.from(vector)),
    );
    expect(running.stats().batchesCreated).toBe(1);
  });
});

describe("nothing already done is lost", () => {
  // A store that, once the second job of a run is created, cancels it on the server (as another
  // process or a person might): a deterministic way to have one job of several end CANCELLED.
  function cancellingStore(client: GeminiClient) {
    const inner = new MemoryBatchStateStore();
    let cancelled: string | undefined;
    let saved: BatchRunState | undefined;
    return {
      get cancelled() {
        return cancelled;
      },
      get lastSaved() {
        return saved;
      },
      load: () => inner.load(),
      clear: () => inner.clear(),
      save: async (state: BatchRunState) => {
        const second = state.jobs[1]?.name;
        if (second !== undefined && cancelled === undefined) {
          cancelled = second;
          await client.batches.cancel(second);
        }
        saved = JSON.parse(JSON.stringify(state)) as BatchRunState;
        await inner.save(state);
      },
    };
  }

  it("one of several jobs cancelled, no fallback: the error carries the other jobs' vectors", async () => {
    const running = await server({ delayPerItemMs: 30, concurrency: 1 });
    const ef = embedder(running.url);
    const docs = texts(30);
    const store = cancellingStore(ef.client);
    const error = await encodeWithBatchApi(ef, docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
      store,
      limits: { inlineBytes: 1_000, fileBytes: 1_400 },
    }).catch((caught: unknown) => caught);
    const jobs = store.lastSaved?.jobs ?? [];
    expect(jobs.length).toBeGreaterThanOrEqual(3);
    expect(error).toBeInstanceOf(BatchJobIncompleteError);
    expect(error).toBeInstanceOf(BatchJobError);
    expect(error).not.toBeInstanceOf(BatchDeadlineError);
    const incomplete = error as BatchJobIncompleteError;
    expect(incomplete.jobName).toBe(store.cancelled);
    expect(incomplete.reason).toBe("cancelled");
    expect(incomplete.state).toBe("BATCH_STATE_CANCELLED");
    expect(incomplete.message).toContain(store.cancelled);
    expect(incomplete.jobErrors.map((jobError) => jobError.jobName)).toEqual([store.cancelled]);
    // Only the cancelled job's inputs are missing; every other vector is the synchronous one.
    const second = jobs[1] as { start: number; end: number };
    expect(incomplete.missingIndices.length).toBeGreaterThan(0);
    for (const index of incomplete.missingIndices) {
      expect(index).toBeGreaterThanOrEqual(second.start);
      expect(index).toBeLessThan(second.end);
    }
    const sync = await ef.encodeDocuments(docs);
    docs.forEach((_, index) => {
      if (incomplete.missingIndices.includes(index)) {
        expect(incomplete.vectors[index]).toBeUndefined();
      } else {
        expect(Array.from(incomplete.vectors[index] ?? [])).toEqual(
          Array.from(sync[index] as Float32Array),
        );
      }
    });
    // A job that ended CANCELLED cannot be resumed: the state is removed.
    expect(await store.load()).toBeUndefined();
  });

  it("a deadline with one job cancelled: the state keeps the running jobs, a rerun pays only for the cancelled range", async () => {
    const running = await server({ delayPerItemMs: 60, concurrency: 1 });
    const ef = embedder(running.url);
    const docs = texts(30);
    const store = cancellingStore(ef.client);
    const limits = { inlineBytes: 1_000, fileBytes: 1_400 };
    const error = await encodeWithBatchApi(ef, docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
      store,
      limits,
      deadline: 150,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BatchJobError);
    const incomplete = error as BatchJobIncompleteError | BatchDeadlineIncompleteError;
    expect(incomplete.jobErrors.map((jobError) => jobError.reason)).toContain("cancelled");
    expect(incomplete.jobErrors.map((jobError) => jobError.reason)).toContain("deadline");
    expect(incomplete.vectors).toHaveLength(docs.length);
    const saved = await store.load();
    const firstJobs = store.lastSaved?.jobs ?? [];
    expect(firstJobs.length).toBeGreaterThanOrEqual(3);
    // The cancelled job's range is reset (attaching to it would fail forever); the others stay.
    expect(saved?.jobs[1]?.name).toBeUndefined();
    expect(saved?.jobs[0]?.name).toBe(firstJobs[0]?.name);
    expect(saved?.jobs.at(-1)?.name).toBe(firstJobs.at(-1)?.name);
    const createdBefore = running.stats().batchesCreated;
    expect(createdBefore).toBe(firstJobs.length);

    const result = await encodeWithBatchApiDetailed(ef, docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
      store,
      limits,
    });
    expect(running.stats().batchesCreated).toBe(createdBefore + 1);
    expect(result.jobNames[0]).toBe(firstJobs[0]?.name);
    expect(result.jobNames[1]).not.toBe(store.cancelled);
    expect(result.syncCount).toBe(0);
    const sync = await ef.encodeDocuments(docs);
    expect(result.vectors.map((vector) => Array.from(vector ?? []))).toEqual(
      sync.map((vector) => Array.from(vector)),
    );
    expect(await store.load()).toBeUndefined();
  });

  it("the synchronous path failing after the job keeps the job's vectors, and a rerun does not pay again", async () => {
    const running = await server();
    const dead = await startServer({});
    const deadUrl = dead.url;
    await dead.close();
    const ef = embedder(running.url);
    const unreachable = new GeminiEmbeddingFunction({
      baseUrl: deadUrl,
      apiKey: API_KEY,
      config: { outputDimensionality: 128 },
      quota: false,
      maxRetries: 0,
    });
    const docs = texts(10);
    docs[3] = "BROKEN item";
    const store = new MemoryBatchStateStore();
    const broken = {
      ...itemFailingEmbedder(ef, "BROKEN"),
      encode: (inputs: Parameters<typeof ef.encode>[0], options: Parameters<typeof ef.encode>[1]) =>
        unreachable.encode(inputs, options),
    };
    const error = await encodeWithBatchApi(broken, docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
      store,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddingIncompleteError);
    const incomplete = error as EmbeddingIncompleteError;
    expect(incomplete.cause).toBeInstanceOf(GeminiConnectionError);
    expect(incomplete.missingIndices).toEqual([3]);
    const sync = await ef.encodeDocuments(docs);
    for (const index of [0, 1, 2, 4, 5, 6, 7, 8, 9]) {
      expect(Array.from(incomplete.vectors[index] ?? [])).toEqual(
        Array.from(sync[index] as Float32Array),
      );
    }
    expect((await store.load())?.jobs[0]?.name).toBeDefined();

    const result = await encodeWithBatchApiDetailed(itemFailingEmbedder(ef, "BROKEN"), docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
      store,
    });
    expect(running.stats().batchesCreated).toBe(1);
    expect(result.syncCount).toBe(1);
    expect(result.vectors.map((vector) => Array.from(vector ?? []))).toEqual(
      sync.map((vector) => Array.from(vector)),
    );
  });
});

describe("resume", () => {
  it("a client killed while waiting reattaches to the same job when run again", async () => {
    const running = await server({ delayPerItemMs: 40 });
    const folder = await temporaryFolder();
    const stateFile = join(folder, "state.json");
    const docs = texts(50);
    const source = (name: string) =>
      pathToFileURL(fileURLToPath(new URL(`../packages/gembed/src/${name}`, import.meta.url))).href;
    const child = join(folder, "child.mjs");
    await writeFile(
      child,
      `import { GeminiEmbeddingFunction } from ${JSON.stringify(source("embedding/gemini-embedding-function.ts"))};
import { encodeWithBatchApi } from ${JSON.stringify(source("batch/encode-batch.ts"))};
const ef = new GeminiEmbeddingFunction({ baseUrl: process.env.URL, apiKey: "k", config: { outputDimensionality: 128 }, quota: false });
await encodeWithBatchApi(ef, JSON.parse(process.env.DOCS), { taskType: "RETRIEVAL_DOCUMENT", stateFile: process.env.STATE, pollInterval: 20 });
console.log("finished");
`,
    );
    const processHandle = spawn(
      process.execPath,
      ["--conditions=@gembed/source", "--import", "tsx", child],
      {
        env: { ...process.env, URL: running.url, DOCS: JSON.stringify(docs), STATE: stateFile },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    processHandle.stdout.on("data", (chunk) => {
      output += chunk;
    });
    processHandle.stderr.on("data", (chunk) => {
      output += chunk;
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      processHandle.on("exit", (_code, signal) => resolve(signal)),
    );
    // Wait until the child has created the job and is polling it.
    const started = Date.now();
    for (;;) {
      const saved = await readFile(stateFile, "utf8").catch(() => "");
      if (
        saved.includes('"name": "batches/') &&
        (running.stats().byEndpoint["batches.get"] ?? 0) > 0
      )
        break;
      if (Date.now() - started > 20_000)
        throw new Error(`the child never created its job: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    processHandle.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    expect(output).not.toContain("finished");
    const jobName = JSON.parse(await readFile(stateFile, "utf8")).jobs[0].name as string;
    expect((await embedder(running.url).client.batches.get(jobName)).done).not.toBe(true);

    const ef = embedder(running.url);
    const result = await encodeWithBatchApiDetailed(ef, docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      stateFile,
      ...fast,
    });
    expect(result.jobNames).toEqual([jobName]);
    expect(running.stats().batchesCreated).toBe(1);
    const sync = await ef.encodeDocuments(docs);
    expect(result.vectors.map((vector) => Array.from(vector ?? []))).toEqual(
      sync.map((vector) => Array.from(vector)),
    );
    await expect(stat(stateFile)).rejects.toThrow(/ENOENT/);
  });

  it("a changed input is refused with a clear error, and nothing is submitted", async () => {
    const running = await server({ delayPerItemMs: 50 });
    const ef = embedder(running.url);
    const store = new MemoryBatchStateStore();
    const docs = texts(20);
    const first = await encodeWithBatchApi(ef, docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      store,
      ...fast,
      deadline: 30,
    }).catch((caught: unknown) => caught);
    expect(first).toBeInstanceOf(BatchDeadlineError);
    const jobName = (first as BatchDeadlineError).jobName;
    expect((first as Error).message).toContain(jobName);
    // The message says the short state (as the CLI prints it); the field keeps the API's name.
    expect((first as Error).message).toMatch(/is still (PENDING|RUNNING) after the deadline/);
    expect((first as BatchDeadlineError).state).toMatch(/^BATCH_STATE_(PENDING|RUNNING)$/);
    expect((await store.load())?.jobs[0]?.name).toBe(jobName);

    const changed = [...docs];
    changed[5] = "a different text";
    const refused = await encodeWithBatchApi(ef, changed, {
      taskType: "RETRIEVAL_DOCUMENT",
      store,
      ...fast,
    }).catch((caught: unknown) => caught);
    expect(refused).toBeInstanceOf(BatchInputChangedError);
    expect((refused as BatchInputChangedError).jobNames).toEqual([jobName]);
    expect((refused as Error).message).toMatch(/input changed/);
    // Another config is another input too.
    const otherDims = embedder(running.url, 256);
    await expect(
      encodeWithBatchApi(otherDims, docs, { taskType: "RETRIEVAL_DOCUMENT", store, ...fast }),
    ).rejects.toThrow(BatchInputChangedError);
    expect(running.stats().batchesCreated).toBe(1);
    // The same input resumes the same job.
    const vectors = await encodeWithBatchApi(ef, docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      store,
      ...fast,
    });
    expect(vectors).toHaveLength(20);
    expect(running.stats().batchesCreated).toBe(1);
    expect(await store.load()).toBeUndefined();
  });
  it("a crash between creating the job and saving its name finds the job instead of paying again", async () => {
    const running = await server({ delayPerItemMs: 5 });
    const ef = embedder(running.url);
    const docs = texts(10);
    // A store whose process "dies" right after the create call answered, before the name is saved.
    const inner = new MemoryBatchStateStore();
    let crash = true;
    const store = {
      load: () => inner.load(),
      clear: () => inner.clear(),
      save: async (state: BatchRunState) => {
        if (crash && state.jobs.some((job) => job.name !== undefined)) throw new Error("killed");
        await inner.save(state);
      },
    };
    await expect(
      encodeWithBatchApi(ef, docs, { taskType: "RETRIEVAL_DOCUMENT", store, ...fast }),
    ).rejects.toThrow("killed");
    const saved = await inner.load();
    expect(saved?.jobs[0]?.name).toBeUndefined();
    expect(saved?.jobs[0]?.submittedAt).toBeDefined();
    expect(running.stats().batchesCreated).toBe(1);
    crash = false;
    const vectors = await encodeWithBatchApi(ef, docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      store,
      ...fast,
    });
    expect(running.stats().batchesCreated).toBe(1);
    const sync = await ef.encodeDocuments(docs);
    expect(vectors.map((vector) => Array.from(vector))).toEqual(
      sync.map((vector) => Array.from(vector)),
    );
  });
});

describe("jobs that do not finish", () => {
  it("an abort detaches: the job runs on, the state keeps it, a rerun collects it without a new job", async () => {
    const running = await server({ delayPerItemMs: 20 });
    const ef = embedder(running.url);
    const store = new MemoryBatchStateStore();
    const docs = texts(40);
    const controller = new AbortController();
    let jobName = "";
    const error = await encodeWithBatchApi(ef, docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
      store,
      signal: controller.signal,
      onProgress: (progress) => {
        jobName = progress.jobName;
        controller.abort();
      },
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddingAbortedError);
    expect(error).toBeInstanceOf(GembedAbortError);
    expect((error as EmbeddingAbortedError).jobNames).toEqual([jobName]);
    expect((error as Error).message).toContain("keep running");
    expect(running.stats().byEndpoint["batches.cancel"] ?? 0).toBe(0);
    expect((await store.load())?.jobs[0]?.name).toBe(jobName);
    // The job is not cancelled: the rerun attaches to it and reads its results.
    const vectors = await encodeWithBatchApi(ef, docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
      store,
    });
    expect(vectors).toHaveLength(40);
    expect(running.stats().batchesCreated).toBe(1);
    expect((await ef.client.batches.get(jobName)).metadata?.state).toBe("BATCH_STATE_SUCCEEDED");
    expect(await store.load()).toBeUndefined();
  });

  it("an abort with cancelOnAbort cancels the remote job", async () => {
    const running = await server({ delayPerItemMs: 50 });
    const ef = embedder(running.url);
    const controller = new AbortController();
    let jobName = "";
    const error = await encodeWithBatchApi(ef, texts(40), {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
      cancelOnAbort: true,
      signal: controller.signal,
      onProgress: (progress) => {
        jobName = progress.jobName;
        controller.abort();
      },
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GembedAbortError);
    const operation = await ef.client.batches.get(jobName);
    expect(operation.metadata?.state).toBe("BATCH_STATE_CANCELLED");
    expect(running.stats().byEndpoint["batches.cancel"]).toBe(1);
    // The API key shows nowhere: not in the job, not in the error.
    const job = await BatchJob.attach(ef.client, jobName);
    for (const shown of [
      inspect(job, { depth: 8 }),
      inspect(error, { depth: 8 }),
      String((error as Error).stack),
    ]) {
      expect(shown).not.toContain(API_KEY);
    }
  });

  it("an expired job gives a typed error naming it, or falls back when allowed", async () => {
    const running = await server({ delayPerItemMs: 100, jobLifetimeMs: 150 });
    const ef = embedder(running.url);
    const docs = texts(20);
    const error = await encodeWithBatchApi(ef, docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BatchJobError);
    expect(error).not.toBeInstanceOf(BatchDeadlineError);
    const jobError = error as BatchJobError;
    expect(jobError.reason).toBe("expired");
    expect(jobError.state).toBe("BATCH_STATE_EXPIRED");
    expect(jobError.message).toContain(jobError.jobName);

    const result = await encodeWithBatchApiDetailed(ef, docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
      fallback: true,
    });
    const sync = await ef.encodeDocuments(docs);
    expect(result.vectors.map((vector) => Array.from(vector ?? []))).toEqual(
      sync.map((vector) => Array.from(vector)),
    );
    expect(result.syncCount).toBeGreaterThan(0);
  });

  it("a failed job gives a typed error naming it", async () => {
    const dataDir = await temporaryFolder();
    const running = await startServer({ dataDir, batch: { delayPerItemMs: 20, concurrency: 1 } });
    servers.push(running);
    const client = new GeminiClient({ baseUrl: running.url, apiKey: API_KEY });
    const request = (text: string) => ({
      content: { parts: [{ text }] },
      outputDimensionality: 128,
    });
    // The first job keeps the only runner busy while the second one's stored input is lost.
    const busy = await BatchJob.create(client, {
      model: "gemini-embedding-001",
      requests: texts(200).map(request),
    });
    const doomed = await BatchJob.create(client, {
      model: "gemini-embedding-001",
      requests: [request("x")],
    });
    await rm(join(dataDir, "batches", `${doomed.name.replace("batches/", "")}.input.jsonl`));
    await busy.cancel();
    const error = await doomed.wait(fast).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BatchJobError);
    expect((error as BatchJobError).reason).toBe("failed");
    expect((error as BatchJobError).state).toBe("BATCH_STATE_FAILED");
    expect((error as BatchJobError).jobName).toBe(doomed.name);
    expect((error as Error).message).toContain(doomed.name);
  });

  it("waiting outlives failed polls only up to maxPollFailures in a row", async () => {
    const running = await startServer({ batch: { delayPerItemMs: 50 } });
    const client = new GeminiClient({ baseUrl: running.url, apiKey: API_KEY, maxRetries: 0 });
    const request = { content: { parts: [{ text: "x" }] }, outputDimensionality: 128 };
    const job = await BatchJob.create(client, {
      model: "gemini-embedding-001",
      requests: [request, request, request],
    });
    await running.close();
    const polls: string[] = [];
    const error = await job
      .wait({ ...fast, maxPollFailures: 2, onProgress: (progress) => polls.push(progress.state) })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GeminiConnectionError);
    // The first two failures were waited out (progress reported from the last known state).
    expect(polls).toHaveLength(2);
    await expect(job.wait({ maxPollFailures: -1 })).rejects.toThrow(RangeError);
  });

  it("a deadline passing with a fallback cancels the job and embeds the rest synchronously", async () => {
    const running = await server({ delayPerItemMs: 100 });
    const ef = embedder(running.url);
    const docs = texts(30);
    const result = await encodeWithBatchApiDetailed(ef, docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
      deadline: 150,
      fallback: true,
    });
    const sync = await ef.encodeDocuments(docs);
    expect(result.vectors.map((vector) => Array.from(vector ?? []))).toEqual(
      sync.map((vector) => Array.from(vector)),
    );
    expect(result.syncCount).toBeGreaterThan(0);
    const operation = await ef.client.batches.get(result.jobNames[0] as string);
    expect(operation.metadata?.state).toBe("BATCH_STATE_CANCELLED");
  });
});

describe("scale", () => {
  it("100,000 texts come back complete and in input order", { timeout: 120_000 }, async () => {
    const running = await server({ delayPerItemMs: 0 });
    const ef = embedder(running.url, 128);
    const docs = Array.from({ length: 100_000 }, (_, index) => `t${index} w${index % 1000}`);
    const result = await encodeWithBatchApiDetailed(ef, docs, {
      taskType: "RETRIEVAL_DOCUMENT",
      ...fast,
      inputMode: "file",
    });
    expect(running.stats().batchesCreated).toBe(1);
    expect(result.vectors.every((vector) => vector?.length === 128)).toBe(true);
    // About 500 indices spread over the whole input, both ends included: a swap or a shift
    // anywhere shows.
    const sample = [0, 1, 2, 99_998, 99_999];
    for (let index = 3; index < 99_998; index += 199) sample.push(index);
    const sync = await ef.encodeDocuments(sample.map((index) => docs[index] as string));
    sample.forEach((index, position) => {
      expect(Array.from(result.vectors[index] ?? [])).toEqual(
        Array.from(sync[position] as Float32Array),
      );
    });
  });
});
