import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { EmbedContentRequest } from "../api/types.js";
import {
  type BatchRunState,
  FileBatchStateStore,
  fingerprintRequests,
  MemoryBatchStateStore,
} from "./state-store.js";

const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});

function request(text: string, outputDimensionality?: number): EmbedContentRequest {
  return {
    content: { parts: [{ text }] },
    taskType: "RETRIEVAL_DOCUMENT",
    ...(outputDimensionality ? { outputDimensionality } : {}),
  };
}

const state: BatchRunState = {
  version: 1,
  fingerprint: "abc",
  model: "models/gemini-embedding-001",
  count: 2,
  createdAt: new Date(0).toISOString(),
  jobs: [{ start: 0, end: 2, mode: "inline", displayName: "job", name: "batches/1" }],
};

describe("fingerprintRequests", () => {
  it("changes with the model, the config, any text or the order", () => {
    const base = fingerprintRequests("models/a", [request("x"), request("y")]);
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprintRequests("models/a", [request("x"), request("y")])).toBe(base);
    expect(fingerprintRequests("models/b", [request("x"), request("y")])).not.toBe(base);
    expect(fingerprintRequests("models/a", [request("x", 128), request("y", 128)])).not.toBe(base);
    expect(fingerprintRequests("models/a", [request("x"), request("z")])).not.toBe(base);
    expect(fingerprintRequests("models/a", [request("y"), request("x")])).not.toBe(base);
    expect(fingerprintRequests("models/a", [request("x")])).not.toBe(base);
  });
});

describe("FileBatchStateStore", () => {
  it("saves, loads and clears atomically, leaving no temporary file", async () => {
    const folder = await mkdtemp(join(tmpdir(), "gembed-state-"));
    folders.push(folder);
    const store = new FileBatchStateStore(join(folder, "sub", "state.json"));
    expect(await store.load()).toBeUndefined();
    await store.save(state);
    await store.save({ ...state, count: 3 });
    expect(await store.load()).toEqual({ ...state, count: 3 });
    expect(await readdir(join(folder, "sub"))).toEqual(["state.json"]);
    await store.clear();
    expect(await store.load()).toBeUndefined();
    await store.clear();
  });

  it("refuses a file that is not a state file, and a bad path", async () => {
    const folder = await mkdtemp(join(tmpdir(), "gembed-state-"));
    folders.push(folder);
    const path = join(folder, "other.json");
    await writeFile(path, '{"hello":1}');
    await expect(new FileBatchStateStore(path).load()).rejects.toThrow(/not a gembed batch state/);
    expect(await readFile(path, "utf8")).toBe('{"hello":1}');
    expect(() => new FileBatchStateStore("")).toThrow(TypeError);
  });
});

describe("MemoryBatchStateStore", () => {
  it("returns copies, not the stored object", async () => {
    const store = new MemoryBatchStateStore();
    await store.save(state);
    const loaded = await store.load();
    expect(loaded).toEqual(state);
    if (loaded) loaded.jobs = [];
    expect((await store.load())?.jobs).toHaveLength(1);
    await store.clear();
    expect(await store.load()).toBeUndefined();
  });
});
