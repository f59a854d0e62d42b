/**
 * `--milvus` of `ingest` and `search`: checked before anything starts (a Milvus Lite path that is
 * a file, a folder `search` would create by a typo), then connected, with a server that does not
 * answer named by its address instead of the SDK's `14 UNAVAILABLE`.
 *
 * @module
 */

import { stat } from "node:fs/promises";
import { connectMilvus, isMilvusLitePath, MilvusLiteStartError } from "@gembed/milvus";
import { FileLockedError } from "gembed";
import { MilvusUnavailableError, UsageError } from "./errors.js";

/** What `--milvus`, `--token` and `--database` hold. */
export interface MilvusConnectOptions {
  milvus: string;
  /** Where `milvus` came from, for messages: `--milvus` (the default) or `MILVUS_URI`. */
  option?: string | undefined;
  token?: string | undefined;
  database?: string | undefined;
}

/** The address as shown: without a `user:password@` part. */
export function shownAddress(uri: string): string {
  return uri.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1");
}

/**
 * Connects to the Milvus of `--milvus`. A Milvus Lite path that is a file is a {@link UsageError};
 * so is a missing one unless `create` (ingest creates the folder, search never does: a typo
 * would leave an empty database behind and find nothing). A server that cannot be reached is a
 * {@link MilvusUnavailableError} naming its address.
 */
export async function connectMilvusOption(
  options: MilvusConnectOptions,
  { create }: { create: boolean },
): Promise<Awaited<ReturnType<typeof connectMilvus>>> {
  const uri = options.milvus;
  const option = options.option ?? "--milvus";
  if (isMilvusLitePath(uri)) {
    const info = await stat(uri).catch(() => undefined);
    if (info !== undefined && !info.isDirectory()) {
      throw new UsageError(
        `${option} ${uri} is a file, not a Milvus Lite folder: give a folder path (such as ./gembed.db) or a server address (http://127.0.0.1:19530)`,
      );
    }
    if (info === undefined && !create) {
      throw new UsageError(
        `${option} ${uri}: no such Milvus Lite folder (search does not create one): check the path, or ingest into it first (gembed ingest <docs> --milvus ${uri})`,
      );
    }
  }
  const unavailable = (error: unknown) =>
    isUnavailable(error) ? new MilvusUnavailableError(shownAddress(uri), error, option) : error;
  const client = await connectMilvus({
    uri,
    token: options.token,
    database: options.database,
  }).catch((error: unknown) => {
    // Milvus Lite serves a folder to one process at a time: a second one (two ingests, an ingest
    // and a search) is refused by its lock, which deserves one line, not a Python traceback.
    if (error instanceof MilvusLiteStartError && /DataDirLockedError/.test(error.output)) {
      throw new FileLockedError(
        error.dataDir,
        undefined,
        `the Milvus Lite folder ${uri} (${option}) is in use by another process (Milvus Lite serves a folder to one process at a time: another gembed ingest, search or demo, or a pymilvus MilvusClient); wait for it to finish, or give another folder`,
      );
    }
    throw unavailable(error);
  });
  if (!isMilvusLitePath(uri)) {
    // The SDK connects lazily: ask once now, so a server that is not there is named as such.
    try {
      await client.checkHealth();
    } catch (error) {
      await client.closeConnection().catch(() => {});
      throw unavailable(error);
    }
  }
  return client;
}

/** gRPC's UNAVAILABLE (code 14): nothing listens there, or the connection could not be made. */
export function isUnavailable(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return code === 14 || (typeof message === "string" && /^14 UNAVAILABLE\b/.test(message));
}
