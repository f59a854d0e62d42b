/**
 * The local server as an attacker meets it: the key check on the route the router chose, time
 * limits on headers and bodies, the Host header, and every error answer a google.rpc.Status that
 * never echoes a key. Raw `node:net` requests, since fetch would normalize what is sent.
 */

import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type RunningServer, type ServerOptions, startServer } from "@gembed/server";
import { afterEach, describe, expect, it } from "vitest";
import { type RawAnswer, rawExchange, rawRequest } from "./support/raw-http.js";

const servers: RunningServer[] = [];
const folders: string[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
  await Promise.all(folders.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function start(options?: ServerOptions): Promise<RunningServer> {
  const server = await startServer(options);
  servers.push(server);
  return server;
}

const KEY = "security-test-key-5f1c";
const MODEL = "gemini-embedding-001";

// biome-ignore lint/suspicious/noExplicitAny: tests read parsed JSON answers freely
type Json = any;

/** The parsed body of an answer, which must be a google.rpc.Status when it is an error. */
function statusOf(answer: RawAnswer | undefined): Json {
  expect(answer).toBeDefined();
  const body = JSON.parse((answer as RawAnswer).body);
  expect(Object.keys(body)).toEqual(["error"]);
  expect(typeof body.error.code).toBe("number");
  expect(typeof body.error.message).toBe("string");
  expect(typeof body.error.status).toBe("string");
  return body.error;
}

async function uploadFile(server: RunningServer, text: string): Promise<string> {
  const start = await fetch(`${server.url}/upload/v1beta/files`, {
    method: "POST",
    headers: {
      "x-goog-api-key": KEY,
      "x-goog-upload-protocol": "resumable",
      "x-goog-upload-command": "start",
      "content-type": "application/json",
    },
    body: JSON.stringify({ file: { displayName: "secret" } }),
  });
  const url = start.headers.get("x-goog-upload-url") as string;
  const done = await fetch(url, {
    method: "POST",
    headers: {
      "x-goog-api-key": KEY,
      "x-goog-upload-command": "upload, finalize",
      "x-goog-upload-offset": "0",
    },
    body: text,
  });
  const body = (await done.json()) as Json;
  return (body.file.name as string).slice("files/".length);
}

describe("the key check", () => {
  it("refuses a percent-encoded or absolute-form path to data without the key", async () => {
    const server = await start({ apiKeys: [KEY] });
    const id = await uploadFile(server, "the secret contents\n");
    const { host } = new URL(server.url);
    const attempts: [string, string][] = [
      ["GET", "/%761beta/files"],
      ["GET", `/%761beta/files/${id}`],
      ["GET", `/%64ownload/v1beta/files/${id}:download?alt=media`],
      ["GET", `/v1beta/files/${id}%3Adownload?alt=media`],
      ["GET", `http://${host}/v1beta/batches`],
      ["GET", `http://${host}/v1beta/files`],
      ["DELETE", `/%761beta/files/${id}`],
      ["POST", `/%761beta/models/${MODEL}:embedContent`],
      ["GET", "/%75pload/v1beta/files"],
    ];
    for (const [method, target] of attempts) {
      const answer = await rawExchange(server.url, method, target, {
        "content-type": "application/json",
      });
      expect({ target, status: answer?.status }).toEqual({ target, status: 400 });
      expect(statusOf(answer).details[0].reason).toBe("API_KEY_INVALID");
      expect(answer?.body).not.toContain("the secret contents");
    }
    // The file is still there, and the same paths work with the key.
    const listed = await rawExchange(server.url, "GET", "/%761beta/files", {
      "x-goog-api-key": KEY,
    });
    expect(listed?.status).toBe(200);
    expect(JSON.parse(listed?.body ?? "").files[0].name).toBe(`files/${id}`);
    const downloaded = await rawExchange(
      server.url,
      "GET",
      `/%64ownload/v1beta/files/${id}:download?alt=media`,
      { "x-goog-api-key": KEY },
    );
    expect(downloaded?.body).toBe("the secret contents\n");
  });

  it("checks the key on /health and /metrics too (header or ?key=), and on unknown paths", async () => {
    const server = await start({ apiKeys: [KEY] });
    for (const target of ["/health", "/%68ealth", "/metrics", "/%6detrics", "/v1beta/nothing"]) {
      const refused = await rawExchange(server.url, "GET", target);
      expect(refused?.status, target).toBe(400);
      expect(statusOf(refused).details[0].reason, target).toBe("API_KEY_INVALID");
      const wrong = await rawExchange(server.url, "GET", `${target}?key=not-the-key`);
      expect(wrong?.status, target).toBe(400);
    }
    const health = await rawExchange(server.url, "GET", "/health", { "x-goog-api-key": KEY });
    expect(health?.status).toBe(200);
    expect(JSON.parse(health?.body ?? "")).toEqual({ status: "ok" });
    const metrics = await rawExchange(server.url, "GET", `/metrics?key=${KEY}`);
    expect(metrics?.status).toBe(200);
    expect(metrics?.body).toContain("gembed_server_requests_total");
    // The refused requests above are counted, under their endpoint (4: with and without a wrong
    // key, plain and percent-encoded).
    expect(metrics?.body).toMatch(/gembed_server_requests_total\{endpoint="health",code="400"\} 4/);
  });
});

describe("time limits", () => {
  it("answers 408 and closes a connection that sent headers and half a body", async () => {
    const server = await start({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const { host } = new URL(server.url);
    const answer = await rawRequest(
      server.url,
      `POST /v1beta/models/${MODEL}:embedContent HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"content":`,
      15_000,
    );
    expect(answer?.status).toBe(408);
    expect(statusOf(answer).status).toBe("DEADLINE_EXCEEDED");
  });

  it("closes a connection that never finishes its headers", async () => {
    const server = await start({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const answer = await rawRequest(
      server.url,
      "GET /v1beta/models HTTP/1.1\r\nHost: x\r\nX-Slow: ",
      15_000,
    );
    expect(answer?.status).toBe(408);
    statusOf(answer);
  });

  it("refuses bad time limits", async () => {
    await expect(startServer({ requestTimeoutMs: 50 })).rejects.toThrow(RangeError);
    await expect(startServer({ headersTimeoutMs: 5000, requestTimeoutMs: 1000 })).rejects.toThrow(
      RangeError,
    );
  });
});

describe("the Host header", () => {
  it("is never copied unchecked into x-goog-upload-url or a file's uri", async () => {
    const server = await start();
    const { port } = new URL(server.url);
    for (const host of [
      "evil.example",
      `evil.example:${port}`,
      "127.0.0.1:99999",
      "a b",
      "x/y",
      `u@127.0.0.1:${port}`,
    ]) {
      const started = await rawRequest(
        server.url,
        `POST /upload/v1beta/files HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nX-Goog-Upload-Protocol: resumable\r\nX-Goog-Upload-Command: start\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
      );
      if (started?.status === 200) {
        expect(started.headers["x-goog-upload-url"]).toMatch(
          new RegExp(`^${server.url}/upload/v1beta/files\\?upload_id=`),
        );
      } else {
        // Node itself refuses a malformed Host.
        expect(started?.status).toBe(400);
        statusOf(started);
      }
    }
    // The names this server answers to are kept (any port: a proxy in front may use another).
    const local = await rawRequest(
      server.url,
      `POST /upload/v1beta/files HTTP/1.1\r\nHost: localhost:${port}\r\nConnection: close\r\nX-Goog-Upload-Protocol: resumable\r\nX-Goog-Upload-Command: start\r\nContent-Length: 0\r\n\r\n`,
    );
    expect(local?.headers["x-goog-upload-url"]).toMatch(
      new RegExp(`^http://localhost:${port}/upload/`),
    );
    // A file's uri, too.
    const listed = await rawRequest(
      server.url,
      `GET /v1beta/files HTTP/1.1\r\nHost: evil.example:${port}\r\nConnection: close\r\n\r\n`,
    );
    expect(listed?.status).toBe(200);
    expect(listed?.body).not.toContain("evil.example");
  });
});

describe("error answers are google.rpc.Status and never echo a key", () => {
  it("a malformed percent-encoding (FST_ERR_BAD_URL), with the key in the query", async () => {
    const server = await start();
    const answer = await rawExchange(server.url, "GET", `/v1beta/files/%zz?key=${KEY}`);
    expect(answer?.status).toBe(400);
    statusOf(answer);
    expect(answer?.raw).not.toContain(KEY);
  });

  it("a path parameter over the router's limit (414)", async () => {
    const server = await start();
    const answer = await rawExchange(
      server.url,
      "GET",
      `/v1beta/files/${"a".repeat(600)}?key=${KEY}`,
    );
    expect(answer?.status).toBe(414);
    statusOf(answer);
    expect(answer?.raw).not.toContain(KEY);
  });

  it("headers too large (431) and a malformed request (Node's client error)", async () => {
    const server = await start();
    const large = await rawExchange(server.url, "GET", "/v1beta/models", {
      "x-goog-api-key": KEY,
      "x-big": "b".repeat(20_000),
    });
    expect(large?.status).toBe(431);
    statusOf(large);
    expect(large?.raw).not.toContain(KEY);
    const malformed = await rawRequest(
      server.url,
      `POST /v1beta/models HTTP/1.1\r\nHost: x\r\nx-goog-api-key: ${KEY}\r\nContent-Length: nope\r\n\r\n`,
    );
    expect(malformed?.status).toBe(400);
    statusOf(malformed);
    expect(malformed?.raw).not.toContain(KEY);
  });
});

describe("the data folder", () => {
  it.runIf(process.platform === "linux")(
    "a data folder that cannot be written is said at start, naming it",
    async () => {
      // Not even root may create a folder in sysfs: a folder no process can write.
      const dataDir = "/sys/kernel/gembed-data";
      const error = await startServer({ dataDir }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).name).toBe("DataFolderError");
      expect((error as Error).message).toContain(dataDir);
      expect((error as Error).message).toMatch(/cannot be written \((EPERM|EACCES|EROFS|ENOENT)/);
    },
  );

  it("leaves no probe file behind", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "gembed-security-"));
    folders.push(dataDir);
    const server = await start({ dataDir });
    for (const folder of ["batches", "files", "uploads"]) {
      expect(await readdir(path.join(server.dataDir, folder))).toEqual([]);
    }
  });
});

describe("the request log", () => {
  it("has one line per request at info level, with the status and without the key", async () => {
    const lines: string[] = [];
    const server = await start({
      apiKeys: [KEY],
      logLevel: "info",
      logStream: { write: (line) => lines.push(line) },
    });
    lines.length = 0;
    await fetch(`${server.url}/v1beta/models?key=${KEY}`);
    await fetch(`${server.url}/v1beta/models`, { headers: { "x-goog-api-key": KEY } });
    await fetch(`${server.url}/v1beta/models`, { headers: { "x-goog-api-key": "wrong-key-77" } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(lines).toHaveLength(3);
    const parsed = lines.map((line) => JSON.parse(line));
    expect(parsed.map((line) => line.statusCode)).toEqual([200, 200, 400]);
    expect(parsed.every((line) => line.endpoint === "models.list")).toBe(true);
    expect(lines.join("\n")).not.toContain(KEY);
    expect(lines.join("\n")).not.toContain("wrong-key-77");
  });
});
