/**
 * The local server on a data folder that fills up: a real tmpfs of 512 KiB (mounted for the test,
 * so it needs root on Linux; skipped elsewhere). A write that runs out of space is answered 503
 * UNAVAILABLE naming the folder, nothing half-stored stays behind (no ghost job, no half chunk in
 * an upload session), and the same request succeeds once there is room again.
 */
import { execFileSync } from "node:child_process";
import { appendFile, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type RunningServer, startServer } from "@gembed/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canMount } from "./support/mount.js";

const mountable = canMount();
let mountPoint: string;
let server: RunningServer;
const filler = () => path.join(mountPoint, "filler");

beforeAll(async () => {
  if (!mountable) return;
  mountPoint = await mkdtemp(path.join(tmpdir(), "gembed-full-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", mountPoint]);
  server = await startServer({
    dataDir: path.join(mountPoint, "data"),
    batch: { delayPerItemMs: 1 },
  });
});
afterAll(async () => {
  if (!mountable) return;
  await server?.close();
  execFileSync("umount", [mountPoint]);
  await rm(mountPoint, { recursive: true, force: true });
});

/** Fills the file system but for about `leave` bytes. */
async function fillUp(leave: number): Promise<void> {
  const block = Buffer.alloc(4096, 1);
  for (;;) {
    try {
      await appendFile(filler(), block);
    } catch {
      break;
    }
  }
  await rm(filler());
  // What the free space is now, minus what must stay free.
  const size = Math.max(
    0,
    Number(execFileSync("df", ["-B1", "--output=avail", mountPoint]).toString().split("\n")[1]) -
      leave,
  );
  await appendFile(filler(), Buffer.alloc(size, 1));
}

// biome-ignore lint/suspicious/noExplicitAny: tests read parsed JSON answers freely
type Json = any;

async function post(target: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(target, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, json };
}

describe.runIf(mountable)("a full data folder", () => {
  it("an upload chunk that does not fit: 503 UNAVAILABLE, the session keeps what it had, and resumes", async () => {
    const start = await post(
      `${server.url}/upload/v1beta/files`,
      { file: { displayName: "big" } },
      { "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start" },
    );
    expect(start.status).toBe(200);
    const session = start.headers.get("x-goog-upload-url") as string;
    const first = Buffer.alloc(64 * 1024, "a");
    const second = Buffer.alloc(128 * 1024, "b");
    const sent = await post(session, first, {
      "x-goog-upload-command": "upload",
      "x-goog-upload-offset": "0",
    });
    expect(sent.status).toBe(200);

    await fillUp(32 * 1024);
    const refused = await post(session, second, {
      "x-goog-upload-command": "upload, finalize",
      "x-goog-upload-offset": String(first.length),
    });
    expect(refused.status).toBe(503);
    expect(refused.json.error.status).toBe("UNAVAILABLE");
    expect(refused.json.error.message).toContain(path.join(mountPoint, "data"));
    expect(refused.json.error.message).toContain("is full (ENOSPC)");
    const query = await post(session, "", { "x-goog-upload-command": "query" });
    expect(query.headers.get("x-goog-upload-size-received")).toBe(String(first.length));

    await rm(filler());
    const resumed = await post(session, second, {
      "x-goog-upload-command": "upload, finalize",
      "x-goog-upload-offset": String(first.length),
    });
    expect(resumed.status).toBe(200);
    const name = resumed.json.file.name as string;
    const download = await fetch(`${server.url}/v1beta/${name}:download?alt=media`);
    const body = Buffer.from(await download.arrayBuffer());
    expect(body.equals(Buffer.concat([first, second]))).toBe(true);
    await fetch(`${server.url}/v1beta/${name}`, { method: "DELETE" });
  });

  it("a batch job that cannot be stored: 503, no job left behind, and the retry makes one job", async () => {
    const create = () =>
      post(`${server.url}/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent`, {
        batch: {
          displayName: "full",
          inputConfig: {
            requests: {
              requests: Array.from({ length: 200 }, (_, index) => ({
                request: { content: { parts: [{ text: `text ${index} ${"x".repeat(200)}` }] } },
                metadata: { key: String(index) },
              })),
            },
          },
        },
      });
    await fillUp(0);
    const refused = await create();
    expect(refused.status).toBe(503);
    expect(refused.json.error.status).toBe("UNAVAILABLE");
    expect(refused.json.error.message).toMatch(/is full \((ENOSPC|EDQUOT)\): nothing was stored/);
    const listed: Json = await fetch(`${server.url}/v1beta/batches`).then((answer) =>
      answer.json(),
    );
    // An empty list is `{}`, as Google answers it.
    expect(listed).toEqual({});
    expect((await stat(path.join(mountPoint, "data", "batches"))).isDirectory()).toBe(true);

    await rm(filler());
    const created = await create();
    expect(created.status).toBe(200);
    const after: Json = await fetch(`${server.url}/v1beta/batches`).then((answer) => answer.json());
    expect(after.operations).toHaveLength(1);
  });
});
