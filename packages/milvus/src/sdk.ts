import type * as MilvusSdk from "@zilliz/milvus2-sdk-node";
import { checkNumber } from "gembed/internal";
import { MilvusSdkMissingError } from "./errors.js";
import { isMilvusLitePath, startMilvusLite } from "./lite.js";

/** The Milvus Node SDK module. */
export type MilvusSdkModule = typeof MilvusSdk;

let loaded: Promise<MilvusSdkModule> | undefined;

/**
 * Loads `@zilliz/milvus2-sdk-node`, an optional peer dependency, on first use only (so `gembed`
 * works without it); a clear {@link MilvusSdkMissingError} when it is not installed.
 */
export function loadMilvusSdk(): Promise<MilvusSdkModule> {
  loaded ??= import("@zilliz/milvus2-sdk-node").then(
    (module) => {
      // CommonJS seen from ESM: the named exports may sit on `default`.
      const withDefault = module as MilvusSdkModule & { default?: MilvusSdkModule };
      return withDefault.MilvusClient !== undefined ? module : (withDefault.default ?? module);
    },
    (error: unknown) => {
      loaded = undefined;
      const code = (error as { code?: string }).code;
      if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") {
        throw new MilvusSdkMissingError({ cause: error });
      }
      throw error;
    },
  );
  return loaded;
}

/**
 * Per-call timeout of a client to Milvus Lite, ms: it is one Python process, and the write that
 * fills its 128 MB memtable also writes it to Parquet before answering.
 */
export const MILVUS_LITE_TIMEOUT_MS = 120_000;

/** Options of {@link connectMilvus}. */
export interface ConnectMilvusOptions {
  /**
   * `http://host:19530`, `host:19530`, a Zilliz Cloud endpoint, or a folder path such as
   * `./gembed.db`: Milvus Lite is started for that folder and stopped by `closeConnection()`.
   */
  uri: string;
  /**
   * `user:password` or a Zilliz Cloud API key. Never printed.
   * @default process.env.MILVUS_TOKEN
   */
  token?: string | undefined;
  /**
   * The database.
   * @default "default"
   */
  database?: string | undefined;
  /**
   * Per-call timeout, ms.
   * @default 30000 for a server; 120000 for Milvus Lite started from a folder (one process in
   * Python: the write that fills its 128 MB memtable also writes it to Parquet, seconds on a loaded
   * machine)
   */
  timeout?: number | undefined;
}

/**
 * Connects a `MilvusClient` (and waits until it is connected, so a wrong address fails here).
 * A folder path instead of a URI (`./gembed.db`, as pymilvus's `MilvusClient("./milvus.db")`)
 * starts Milvus Lite for it (see `startMilvusLite`); the client's `closeConnection()` then stops
 * it too. Without Milvus Lite installed: `MilvusLiteMissingError`, naming the install command.
 *
 * @example
 * ```ts
 * const client = await connectMilvus({ uri: "http://127.0.0.1:19530" });
 * const local = await connectMilvus({ uri: "./gembed.db" }); // Milvus Lite
 * ```
 */
export async function connectMilvus(
  options: ConnectMilvusOptions,
): Promise<MilvusSdk.MilvusClient> {
  if (typeof options?.uri !== "string" || options.uri.length === 0) {
    throw new TypeError("uri must be a non-empty string");
  }
  const lite = isMilvusLitePath(options.uri);
  const timeout = options.timeout ?? (lite ? MILVUS_LITE_TIMEOUT_MS : 30_000);
  checkNumber(timeout, "timeout");
  if (timeout <= 0) throw new RangeError(`timeout must be > 0, got ${timeout}`);
  const sdk = await loadMilvusSdk();
  if (lite) {
    const started = await startMilvusLite({ dataDir: options.uri });
    try {
      const client = await connectMilvus({ ...options, uri: started.uri, timeout });
      const close = client.closeConnection.bind(client);
      // One call ends both: the connection, then the Milvus Lite it was started for.
      client.closeConnection = async () => {
        try {
          return await close();
        } finally {
          await started.stop();
        }
      };
      return client;
    } catch (error) {
      await started.stop();
      throw error;
    }
  }
  const token = options.token ?? process.env.MILVUS_TOKEN;
  const config: MilvusSdk.ClientConfig = { address: options.uri, timeout, logLevel: "error" };
  if (token !== undefined && token.length > 0) config.token = token;
  if (options.database !== undefined) config.database = options.database;
  const client = new sdk.MilvusClient(config);
  await client.connectPromise;
  return client;
}
