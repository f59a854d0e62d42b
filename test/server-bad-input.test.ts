/**
 * The local server's answers to bad input: each is a 400 google.rpc.Status that says what is
 * wrong (never a 500, never accepted and misread), and a cancelled or expired job stops at once.
 */

import { readdir } from "node:fs/promises";
import path from "node:path";
import { type RunningServer, type ServerOptions, startServer } from "@gembed/server";
import { afterEach, describe, expect, it } from "vitest";

const servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function start(options?: ServerOptions): Promise<RunningServer> {
  const server = await startServer(options);
  servers.push(server);
  return server;
}

// biome-ignore lint/suspicious/noExplicitAny: tests read parsed JSON answers freely
type Json = any;

async function call(
  server: RunningServer,
  method: string,
  route: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${server.url}${route}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text.length > 0 ? JSON.parse(text) : undefined };
}

const MODEL = "gemini-embedding-001";
const EMBED = `/v1beta/models/${MODEL}:embedContent`;
const CREATE = `/v1beta/models/${MODEL}:asyncBatchEmbedContent`;

function expectInvalid(answer: { status: number; body: Json }, message: RegExp): void {
  expect(answer.status).toBe(400);
  expect(answer.body.error.status).toBe("INVALID_ARGUMENT");
  expect(answer.body.error.message).toMatch(message);
}

function deep(levels: number): Json {
  let value: Json = { leaf: 1 };
  for (let level = 0; level < levels; level++) value = { a: value };
  return value;
}

function inlineJob(count: number, metadata?: (index: number) => unknown): Json {
  return {
    batch: {
      inputConfig: {
        requests: {
          requests: Array.from({ length: count }, (_, index) => ({
            request: { content: { parts: [{ text: `text ${index}` }] }, outputDimensionality: 128 },
            metadata: metadata?.(index) ?? { key: String(index) },
          })),
        },
      },
    },
  };
}

describe("bad input answers 400 saying what is wrong", () => {
  it("metadata nested 4,100 levels deep", async () => {
    const server = await start();
    const answer = await call(
      server,
      "POST",
      CREATE,
      inlineJob(2, () => deep(4100)),
    );
    expectInvalid(answer, /nested deeper than 100 levels/);
    // A depth within the limit is kept.
    const fine = await call(
      server,
      "POST",
      CREATE,
      inlineJob(1, () => deep(50)),
    );
    expect(fine.status).toBe(200);
  });

  it("an upload's declared length of -5, 1e400 or abc", async () => {
    const server = await start();
    for (const length of ["-5", "1e400", "abc", "1.5", "99999999999999999"]) {
      const answer = await call(server, "POST", "/upload/v1beta/files", "{}", {
        "x-goog-upload-protocol": "resumable",
        "x-goog-upload-command": "start",
        "x-goog-upload-header-content-length": length,
      });
      expectInvalid(answer, /Invalid X-Goog-Upload-Header-Content-Length/);
    }
    const fine = await call(server, "POST", "/upload/v1beta/files", "{}", {
      "x-goog-upload-protocol": "resumable",
      "x-goog-upload-command": "start",
      "x-goog-upload-header-content-length": "12",
    });
    expect(fine.status).toBe(200);
  });

  it("a page token the server never gave", async () => {
    const server = await start();
    for (const route of ["/v1beta/files", "/v1beta/batches"]) {
      for (const token of ["%25%25%25", "!!!", "bzE=", "eA", "bzAx"]) {
        expectInvalid(await call(server, "GET", `${route}?pageToken=${token}`), /page token/);
      }
      expect((await call(server, "GET", `${route}?pageToken=`)).status).toBe(200);
    }
  });

  it("outputDimensionality and output_dimensionality with different values", async () => {
    const server = await start();
    const content = { parts: [{ text: "x" }] };
    expectInvalid(
      await call(server, "POST", EMBED, {
        content,
        outputDimensionality: 128,
        output_dimensionality: 256,
      }),
      /outputDimensionality.*output_dimensionality/,
    );
    expectInvalid(
      await call(server, "POST", EMBED, {
        content,
        outputDimensionality: 128,
        embedContentConfig: { outputDimensionality: 256 },
      }),
      /different values/,
    );
    const same = await call(server, "POST", EMBED, {
      content,
      outputDimensionality: 128,
      output_dimensionality: 128,
    });
    expect(same.status).toBe(200);
    expect(same.body.embedding.values).toHaveLength(128);
  });

  it('embedContentConfig: "x"', async () => {
    const server = await start();
    for (const config of ["x", 5, [1]]) {
      expectInvalid(
        await call(server, "POST", EMBED, {
          content: { parts: [{ text: "x" }] },
          embedContentConfig: config,
        }),
        /embed_content_config/,
      );
    }
  });
});

describe("a cancelled or expired running job stops at once", () => {
  async function running(server: RunningServer, count: number): Promise<string> {
    const created = await call(server, "POST", CREATE, inlineJob(count));
    expect(created.status).toBe(200);
    const name: string = created.body.name;
    for (;;) {
      const job = await call(server, "GET", `/v1beta/${name}`);
      if (Number(job.body.metadata.batchStats.successfulRequestCount ?? 0) > 0) return name;
      expect(job.body.metadata.state).toMatch(/PENDING|RUNNING/);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async function partFiles(server: RunningServer): Promise<string[]> {
    const entries = await readdir(path.join(server.dataDir, "batches"));
    return entries.filter((entry) => entry.includes(".part-"));
  }

  it("cancel: stays CANCELLED with the counts it had, parts removed", async () => {
    const server = await start({ batch: { delayPerItemMs: 2 } });
    const name = await running(server, 600);
    expect((await call(server, "POST", `/v1beta/${name}:cancel`)).status).toBe(200);
    const after = (await call(server, "GET", `/v1beta/${name}`)).body;
    expect(after.metadata.state).toBe("BATCH_STATE_CANCELLED");
    const counts = after.metadata.batchStats;
    expect(Number(counts.successfulRequestCount)).toBeLessThan(600);
    // Given time to run on, it does not.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const later = (await call(server, "GET", `/v1beta/${name}`)).body;
    expect(later.metadata.state).toBe("BATCH_STATE_CANCELLED");
    expect(later.metadata.batchStats).toEqual(counts);
    expect(later.error.status).toBe("CANCELLED");
    expect(await partFiles(server)).toEqual([]);
  });

  it("expiry: stays EXPIRED with the counts it had, parts removed", async () => {
    const server = await start({ batch: { delayPerItemMs: 2, jobLifetimeMs: 400 } });
    const name = await running(server, 1000);
    let job: Json;
    do {
      await new Promise((resolve) => setTimeout(resolve, 25));
      job = (await call(server, "GET", `/v1beta/${name}`)).body;
    } while (job.metadata.state === "BATCH_STATE_RUNNING");
    expect(job.metadata.state).toBe("BATCH_STATE_EXPIRED");
    const counts = job.metadata.batchStats;
    await new Promise((resolve) => setTimeout(resolve, 600));
    const later = (await call(server, "GET", `/v1beta/${name}`)).body;
    expect(later.metadata.state).toBe("BATCH_STATE_EXPIRED");
    expect(later.metadata.batchStats).toEqual(counts);
    expect(await partFiles(server)).toEqual([]);
  });
});

describe("the state table", () => {
  it("lets no finished job change, and a job end only from PENDING or RUNNING", async () => {
    const { canTransition } = await import("../packages/server/src/jobs.js");
    const terminal = [
      "BATCH_STATE_SUCCEEDED",
      "BATCH_STATE_FAILED",
      "BATCH_STATE_CANCELLED",
      "BATCH_STATE_EXPIRED",
    ] as const;
    for (const from of terminal) {
      for (const to of [...terminal, "BATCH_STATE_RUNNING", "BATCH_STATE_PENDING"] as const) {
        expect(canTransition(from, to)).toBe(false);
      }
    }
    expect(canTransition("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING")).toBe(true);
    expect(canTransition("BATCH_STATE_RUNNING", "BATCH_STATE_CANCELLED")).toBe(true);
    expect(canTransition("BATCH_STATE_PENDING", "BATCH_STATE_SUCCEEDED")).toBe(false);
    expect(canTransition("BATCH_STATE_RUNNING", "BATCH_STATE_PENDING")).toBe(false);
  });
});

describe("job answers and restarts", () => {
  async function waitDone(server: RunningServer, name: string): Promise<Json> {
    for (;;) {
      const job = (await call(server, "GET", `/v1beta/${name}`)).body;
      if (job.done === true) return job;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it("a line of an input file nested 5,000 deep is that item's error, not the job's", async () => {
    const server = await start();
    let deepLine = "1";
    for (let level = 0; level < 5000; level++) deepLine = `{"a":${deepLine}}`;
    const good = JSON.stringify({ key: "good", request: { content: { parts: [{ text: "x" }] } } });
    const bytes = `{"key":${deepLine},"request":{}}\n${good}\n`;
    const started = await fetch(`${server.url}/upload/v1beta/files`, {
      method: "POST",
      headers: { "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start" },
    });
    const uploaded = await fetch(started.headers.get("x-goog-upload-url") as string, {
      method: "POST",
      headers: { "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0" },
      body: bytes,
    });
    const file = ((await uploaded.json()) as Json).file.name;
    const created = await call(server, "POST", CREATE, {
      batch: { inputConfig: { fileName: file } },
    });
    const job = await waitDone(server, created.body.name);
    expect(job.metadata.state).toBe("BATCH_STATE_SUCCEEDED");
    expect(job.metadata.batchStats).toMatchObject({
      successfulRequestCount: "1",
      failedRequestCount: "1",
    });
    const responses = await fetch(
      `${server.url}/download/v1beta/${job.response.responsesFile}:download?alt=media`,
    );
    const lines = (await responses.text()).trim().split("\n");
    expect(JSON.parse(lines[0] as string).error.message).toMatch(/nested deeper than 100 levels/);
    expect(JSON.parse(lines[1] as string).key).toBe("good");
  });

  it("a restart counts a job's answers from its parts, old part names included", async () => {
    const { mkdtemp, rename, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const dataDir = await mkdtemp(path.join(tmpdir(), "gembed-restart-"));
    try {
      const first = await startServer({ dataDir, batch: { delayPerItemMs: 3 } });
      // Every third item asks for 5 dimensions: an item error.
      const body = inlineJob(300);
      body.batch.inputConfig.requests.requests.forEach((item: Json, index: number) => {
        if (index % 3 === 0) item.request.outputDimensionality = 5;
      });
      const created = await call(first, "POST", CREATE, body);
      const name: string = created.body.name;
      for (;;) {
        const job = (await call(first, "GET", `/v1beta/${name}`)).body;
        if (Number(job.metadata.batchStats.failedRequestCount ?? 0) > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await first.close();
      // An older server named its parts without the failed count.
      const batches = path.join(dataDir, "batches");
      let renamed = 0;
      for (const entry of await readdir(batches)) {
        const match = /^(.+\.part-\d+-\d+)-\d+\.jsonl$/.exec(entry);
        if (match === null) continue;
        await rename(path.join(batches, entry), path.join(batches, `${match[1]}.jsonl`));
        renamed++;
      }
      expect(renamed).toBeGreaterThan(0);
      const second = await startServer({ dataDir });
      try {
        const job = await waitDone(second, name);
        expect(job.metadata.state).toBe("BATCH_STATE_SUCCEEDED");
        expect(job.metadata.batchStats).toMatchObject({
          requestCount: "300",
          successfulRequestCount: "200",
          failedRequestCount: "100",
        });
      } finally {
        await second.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
