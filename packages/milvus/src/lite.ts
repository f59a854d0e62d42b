/**
 * Milvus Lite as pymilvus users know it (`MilvusClient("./milvus.db")`): a folder path instead of
 * a URI starts the official local Milvus (PyPI `milvus-lite` 3.x, a gRPC server,
 * `milvus-lite server --data-dir DIR --port P`) for that folder, waits until it answers over
 * gRPC, and stops it when done.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { mkdir } from "node:fs/promises";
import { connect, createServer } from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { GembedError } from "gembed";
import { loadMilvusSdk } from "./sdk.js";

/** The command that installs the Milvus Lite gembed is tested with (python/requirements.txt). */
export const MILVUS_LITE_INSTALL_COMMAND =
  "python3 -m pip install milvus-lite==3.2.2 pymilvus==3.0.2";

/**
 * How long `stop()` lets Milvus Lite close its data before SIGKILL, ms. On SIGINT it flushes its
 * memtable to Parquet and waits for its background compaction and index builds: 8 to 10 s after
 * a 200 MB ingest on a loaded 2-core machine. Killed sooner, it does that work at its next start
 * instead (a rerun measured 27 s where it takes 17 s), and replays its write-ahead log if the
 * flush was cut.
 */
export const MILVUS_LITE_STOP_GRACE_MS = 120_000;

/** No `milvus-lite` program was found (project `.venv`, `MILVUS_LITE_BIN`, `PATH`). */
export class MilvusLiteMissingError extends GembedError {
  override name = "MilvusLiteMissingError";
  /** Every place looked at. */
  readonly searched: string[];
  constructor(searched: string[]) {
    super(
      `Milvus Lite is not installed (looked for milvus-lite in ${searched.join(", ")}): install it with "${MILVUS_LITE_INSTALL_COMMAND}" (in a gembed checkout: "npm run python-env"), or set MILVUS_LITE_BIN to its milvus-lite program.`,
    );
    this.searched = searched;
  }
}

/** Milvus Lite exited or did not answer while starting. */
export class MilvusLiteStartError extends GembedError {
  override name = "MilvusLiteStartError";
  /** The data folder. */
  readonly dataDir: string;
  /** The last lines Milvus Lite printed. */
  readonly output: string;
  constructor(dataDir: string, reason: string, output: string) {
    super(
      `Milvus Lite for ${dataDir} did not start: ${reason}${output ? `\n${output.trim().split("\n").slice(-8).join("\n")}` : ""}`,
    );
    this.dataDir = dataDir;
    this.output = output;
  }
}

/**
 * True when `uri` names a local folder (Milvus Lite) rather than a server: `./gembed.db`,
 * `/data/milvus`, `milvus.db`. A scheme (`http://`, `https://`, `tcp://`) or `host:port` is a
 * server.
 */
export function isMilvusLitePath(uri: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) return false;
  if (/^[^/\\\s]+:\d+$/.test(uri)) return false; // host:port
  return uri.length > 0;
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where the `milvus-lite` program is: `MILVUS_LITE_BIN`, else `.venv/bin/milvus-lite` of the
 * current folder or of the gembed package, else `milvus-lite` on `PATH`. Throws
 * {@link MilvusLiteMissingError} naming every place looked at.
 */
export function findMilvusLiteBin(environment: NodeJS.ProcessEnv = process.env): string {
  const explicit = environment.MILVUS_LITE_BIN;
  if (explicit !== undefined && explicit.length > 0) {
    if (executable(explicit)) return explicit;
    throw new MilvusLiteMissingError([`MILVUS_LITE_BIN=${explicit}`]);
  }
  const binFolder = process.platform === "win32" ? "Scripts" : "bin";
  const program = process.platform === "win32" ? "milvus-lite.exe" : "milvus-lite";
  // This file is src/milvus/lite.ts or dist/milvus/lite.js: the package root is two folders up.
  // packages/milvus/{src,dist}/lite.* in a gembed checkout: the repository root is three up.
  const repositoryRoot = path.resolve(
    path.dirname(fileURLToPath(import.meta.url)),
    "..",
    "..",
    "..",
  );
  const candidates = [
    ...new Set([
      path.join(process.cwd(), ".venv", binFolder, program),
      path.join(repositoryRoot, ".venv", binFolder, program),
    ]),
  ];
  for (const candidate of candidates) if (executable(candidate)) return candidate;
  for (const folder of (environment.PATH ?? "").split(path.delimiter)) {
    if (folder.length === 0) continue;
    const candidate = path.join(folder, program);
    if (executable(candidate)) return candidate;
  }
  throw new MilvusLiteMissingError([...candidates, "PATH"]);
}

/** Options of {@link startMilvusLite}. */
export interface StartMilvusLiteOptions {
  /** The data folder (created when missing), e.g. `./gembed.db`. */
  dataDir: string;
  /**
   * The `milvus-lite` program.
   * @default findMilvusLiteBin()
   */
  bin?: string | undefined;
  /**
   * How long to wait for it to answer, ms.
   * @default 60000
   */
  startTimeoutMs?: number | undefined;
}

/** A running Milvus Lite. */
export interface MilvusLiteServer {
  /** `127.0.0.1:<port>`, for `connectMilvus` or the SDK. */
  readonly uri: string;
  /** The data folder, absolute. */
  readonly dataDir: string;
  /** The process id. */
  readonly pid: number;
  /**
   * Stops it (SIGINT: it closes its data cleanly: a last flush, and the index builds in flight),
   * then SIGKILL after {@link MILVUS_LITE_STOP_GRACE_MS}. Idempotent.
   */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A Milvus Lite never outlives the process that started it.
  process.once("exit", () => {
    for (const child of running) child.kill("SIGINT");
  });
}

/**
 * Starts `milvus-lite server` for `dataDir` on a free loopback port and waits until it answers
 * over gRPC.
 *
 * @example
 * ```ts
 * const lite = await startMilvusLite({ dataDir: "./gembed.db" });
 * const client = await connectMilvus({ uri: lite.uri });
 * // …
 * await client.closeConnection();
 * await lite.stop();
 * ```
 */
export async function startMilvusLite(options: StartMilvusLiteOptions): Promise<MilvusLiteServer> {
  if (typeof options?.dataDir !== "string" || options.dataDir.length === 0) {
    throw new TypeError("dataDir must be a non-empty string");
  }
  const dataDir = path.resolve(options.dataDir);
  const bin = options.bin ?? findMilvusLiteBin();
  const timeout = options.startTimeoutMs ?? 60_000;
  await mkdir(path.dirname(dataDir), { recursive: true });
  const sdk = await loadMilvusSdk();
  let lastError: MilvusLiteStartError | undefined;
  // A free port can be taken between the check and the bind: try another.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(
      bin,
      ["server", "--data-dir", dataDir, "--host", "127.0.0.1", "--port", String(port)],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, PYTHONUNBUFFERED: "1" },
        // Its own process group: a Ctrl-C at the terminal reaches gembed, which finishes the
        // batch in flight, and not Milvus Lite under it; gembed stops it after.
        detached: true,
      },
    );
    // It never keeps this process alive: when it ends, the exit hook below stops Milvus Lite.
    child.unref();
    (child.stdout as { unref?: () => void } | null)?.unref?.();
    (child.stderr as { unref?: () => void } | null)?.unref?.();
    let output = "";
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-8_000);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    let exited: string | undefined;
    const exit = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        exited = signal ?? `exit code ${code}`;
        running.delete(child);
        resolve();
      });
      child.once("error", (error) => {
        exited = error.message;
        running.delete(child);
        resolve();
      });
    });
    running.add(child);
    installExitHook();
    const uri = `127.0.0.1:${port}`;
    const deadline = Date.now() + timeout;
    let ready = false;
    while (exited === undefined && Date.now() < deadline) {
      // A plain TCP probe first: the SDK's own reconnect back-off would add seconds.
      if (!(await accepts(port))) {
        await sleep(50);
        continue;
      }
      const client = new sdk.MilvusClient({ address: uri, timeout: 2_000, logLevel: "error" });
      try {
        await client.connectPromise;
        const health = await client.checkHealth();
        if (health.isHealthy) ready = true;
      } catch {
        // Not listening yet.
      } finally {
        await client.closeConnection().catch(() => undefined);
      }
      if (ready) break;
      await sleep(100);
    }
    if (ready && exited === undefined) {
      let stopping: Promise<void> | undefined;
      return {
        uri,
        dataDir,
        pid: child.pid ?? 0,
        stop() {
          stopping ??= (async () => {
            if (exited !== undefined) return;
            child.kill("SIGINT");
            const killer = setTimeout(() => child.kill("SIGKILL"), MILVUS_LITE_STOP_GRACE_MS);
            await exit;
            clearTimeout(killer);
          })();
          return stopping;
        },
      };
    }
    if (exited === undefined) {
      child.kill("SIGKILL");
      await exit;
      throw new MilvusLiteStartError(dataDir, `no answer within ${timeout} ms`, output);
    }
    lastError = new MilvusLiteStartError(dataDir, `milvus-lite exited (${exited})`, output);
    // Only a port taken in the meantime is worth another try.
    if (!/address already in use|Failed to bind|bind/i.test(output)) throw lastError;
  }
  throw lastError;
}
