/**
 * Milvus Lite started by gembed itself: the folder-path form of `connectMilvus` (as pymilvus's
 * `MilvusClient("./milvus.db")`), `startMilvusLite`'s lifecycle, and the error without it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  connectMilvus,
  isMilvusLitePath,
  MILVUS_LITE_TIMEOUT_MS,
  MilvusLiteMissingError,
  MilvusLiteStartError,
  startMilvusLite,
} from "@gembed/milvus";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

let folder: string;
beforeEach(async () => {
  folder = await mkdtemp(path.join(tmpdir(), "gembed-lite-"));
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("isMilvusLitePath", () => {
  it("tells a folder from a server address", () => {
    for (const local of ["./gembed.db", "gembed.db", "/var/data/milvus", "../x/milvus.db"]) {
      expect(isMilvusLitePath(local)).toBe(true);
    }
    for (const server of [
      "http://127.0.0.1:19530",
      "https://in01-x.zillizcloud.com:19530",
      "127.0.0.1:19530",
      "milvus:19530",
      "tcp://host:1",
    ]) {
      expect(isMilvusLitePath(server)).toBe(false);
    }
  });
});

describe("startMilvusLite", () => {
  it("answers over gRPC on a loopback port, holds its folder, and stops", async () => {
    const dataDir = path.join(folder, "lite.db");
    const lite = await startMilvusLite({ dataDir });
    expect(lite.uri).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(alive(lite.pid)).toBe(true);
    const client = await connectMilvus({ uri: lite.uri });
    expect(client.timeout).toBe(30_000); // an address: the default of a server
    const version = await client.getVersion();
    expect(version.version).toMatch(/^milvus_lite-3\./);
    await client.closeConnection();

    // A second one on the same folder is refused while the first holds it.
    const second = await startMilvusLite({ dataDir }).catch((caught: unknown) => caught);
    expect(second).toBeInstanceOf(MilvusLiteStartError);
    expect((second as MilvusLiteStartError).message).toContain("lock");

    await lite.stop();
    expect(alive(lite.pid)).toBe(false);
    await lite.stop(); // idempotent
  });

  it("a folder path starts Milvus Lite with its 2 min per-call timeout; closeConnection stops it", async () => {
    const dataDir = path.join(folder, "own.db");
    const client = await connectMilvus({ uri: dataDir });
    // A write that fills Milvus Lite's memtable also writes it to Parquet before it answers.
    expect(client.timeout).toBe(MILVUS_LITE_TIMEOUT_MS);
    expect(MILVUS_LITE_TIMEOUT_MS).toBeGreaterThan(30_000);
    expect((await client.getVersion()).version).toMatch(/^milvus_lite-3\./);
    const given = await connectMilvus({ uri: path.join(folder, "given.db"), timeout: 5_000 });
    expect(given.timeout).toBe(5_000);
    await given.closeConnection();
    await client.closeConnection();
    // Stopped: the folder is free for another Milvus Lite.
    const again = await startMilvusLite({ dataDir });
    await again.stop();
  });

  it("without Milvus Lite: MilvusLiteMissingError naming the command that installs it", async () => {
    const previous = process.env.MILVUS_LITE_BIN;
    process.env.MILVUS_LITE_BIN = path.join(folder, "no-such-milvus-lite");
    try {
      const error = await connectMilvus({ uri: path.join(folder, "x.db") }).catch(
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(MilvusLiteMissingError);
      expect((error as Error).message).toContain(
        'install it with "python3 -m pip install milvus-lite==3.2.2 pymilvus==3.0.2"',
      );
    } finally {
      if (previous === undefined) delete process.env.MILVUS_LITE_BIN;
      else process.env.MILVUS_LITE_BIN = previous;
    }
  });
});
