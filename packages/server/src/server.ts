/**
 * The local server's assembly: it builds the stores and the fastify instance, installs the
 * guards (`security.ts`) and the request observer, registers the route groups (`routes/`:
 * `health.ts`, `models.ts`, `batches.ts`, `files.ts`; the embeddings surface of the Gemini API
 * under `/v1beta/...`, the resumable upload under `/upload/v1beta/files`, downloads under
 * `/download/v1beta/files/...`, plus `/health` and Prometheus `/metrics`), listens, sweeps expired
 * jobs and files, and shuts down without dropping a request in flight.
 *
 * @module
 */

import { mkdtemp, rm } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import Fastify, { LogController } from "fastify";
import { FileStore } from "./files.js";
import { JobManager } from "./jobs.js";
import { LocalServer } from "./local-server.js";
import { type RunningServer, resolveOptions, type ServerOptions } from "./options.js";
import { registerBatchRoutes } from "./routes/batches.js";
import { v1AsV1beta } from "./routes/common.js";
import { registerFileRoutes } from "./routes/files.js";
import { observeRequests, registerHealthRoutes } from "./routes/health.js";
import { registerModelRoutes } from "./routes/models.js";
import {
  clientErrorAnswer,
  frameworkErrorAnswer,
  installGuards,
  loggerOptions,
  type SelfAddress,
  WILDCARD_HOSTS,
} from "./security.js";
import { prepareDataFolder } from "./storage.js";

/** How long close() lets requests in flight finish before cutting their connections. */
const CLOSE_GRACE_MS = 10_000;

/**
 * Starts the local Gemini-compatible embeddings server.
 *
 * @example
 * ```ts
 * const server = await startServer({ apiKeys: ["test-key"] });
 * const response = await fetch(`${server.url}/v1beta/models/gemini-embedding-001:embedContent`, {
 *   method: "POST",
 *   headers: { "content-type": "application/json", "x-goog-api-key": "test-key" },
 *   body: JSON.stringify({ content: { parts: [{ text: "hello" }] } }),
 * });
 * await server.close();
 * ```
 */
export async function startServer(options?: ServerOptions): Promise<RunningServer> {
  const resolved = resolveOptions(options);
  const temporary = resolved.dataDir === undefined;
  const dataDir = resolved.dataDir ?? (await mkdtemp(path.join(tmpdir(), "gembed-serve-")));
  const folders = await prepareDataFolder(path.resolve(dataDir));
  const files = new FileStore(folders, resolved.batch.fileLifetimeMs);
  await files.load();
  let server: LocalServer | undefined;
  const jobs = new JobManager(folders, files, resolved.batch, {
    onItems: (model, texts, tokens) => server?.countTexts(model, texts, tokens),
    onCreated: () => undefined,
  });
  server = new LocalServer(resolved, files, jobs);
  const local = server;

  // Where the server listens; known once it listens (port 0 picks one), read by the routes.
  const self: SelfAddress = { url: "", host: resolved.host, port: resolved.port };
  const app = Fastify({
    logger: loggerOptions(resolved),
    // fastify's own "incoming request" / "request completed" pair is replaced by one line per
    // request (the onResponse hook), at the default level.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: resolved.bodyLimit,
    // On close, idle keep-alive connections go at once; requests in flight finish (see close()).
    forceCloseConnections: "idle",
    // While closing, new requests get a google.rpc.Status 503 from the onRequest hook instead.
    return503OnClosing: false,
    routerOptions: { maxParamLength: 500 },
    rewriteUrl: (raw) => v1AsV1beta(raw.url ?? "/"),
    // A client that sends its headers or its body slowly (or half of it, then nothing) is answered
    // 408 and cut once the limit passes, instead of holding a connection for ever.
    requestTimeout: resolved.requestTimeoutMs,
    http: {
      headersTimeout: resolved.headersTimeoutMs,
      requestTimeout: resolved.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, resolved.headersTimeoutMs),
    },
    frameworkErrors: frameworkErrorAnswer,
    clientErrorHandler: clientErrorAnswer,
  });
  // While closing, an answer ends its connection, so close() does not wait on keep-alive.
  let shuttingDown = false;
  // The observer first, so that a request the guards refuse is still named and counted.
  observeRequests(app, local);
  installGuards(app, resolved, { dataRoot: folders.root, isClosing: () => shuttingDown });

  app.addHook("onSend", async (_request, reply, payload) => {
    if (shuttingDown) reply.header("connection", "close");
    return payload;
  });

  registerHealthRoutes(app, local);
  registerModelRoutes(app, local);
  registerBatchRoutes(app, local);
  registerFileRoutes(app, local, self);

  await app.listen({ port: resolved.port, host: resolved.host });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : resolved.port;
  const host = resolved.host.includes(":") ? `[${resolved.host}]` : resolved.host;
  const url = `http://${host}:${port}`;
  self.port = port;
  // On all interfaces, a client on this machine reaches the server on the loopback address.
  self.url = WILDCARD_HOSTS.has(resolved.host)
    ? `http://${resolved.host.includes(":") ? "[::1]" : "127.0.0.1"}:${port}`
    : url;

  await jobs.load();
  const sweepEvery = Math.max(
    10,
    Math.min(1000, resolved.batch.jobLifetimeMs / 4, resolved.batch.fileLifetimeMs / 4),
  );
  // HTTP requests being answered, so that close() cuts the connections once there are none.
  let inFlight = 0;
  let cutWhenIdle: (() => void) | undefined;
  app.server.on("request", (_message, response: ServerResponse) => {
    inFlight++;
    response.once("close", () => {
      inFlight--;
      cutWhenIdle?.();
    });
  });

  let sweeping: Promise<void> | undefined;
  const sweeper = setInterval(() => {
    if (sweeping !== undefined) return;
    sweeping = Promise.all([jobs.sweep(), files.sweep()])
      .then(() => undefined)
      .catch((error: unknown) => app.log.error({ err: error }, "sweep failed"))
      .finally(() => {
        sweeping = undefined;
      });
  }, sweepEvery);
  sweeper.unref();

  let closing: Promise<void> | undefined;
  return {
    url,
    dataDir: folders.root,
    close() {
      closing ??= (async () => {
        shuttingDown = true;
        clearInterval(sweeper);
        await sweeping;
        // Requests in flight (an upload chunk, a job being created) finish and are answered;
        // then, or past the grace period, the remaining (idle keep-alive) connections are cut.
        const grace = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
        const closed = app.close();
        cutWhenIdle = () => {
          if (inFlight === 0) app.server.closeAllConnections();
        };
        cutWhenIdle();
        try {
          await closed;
        } finally {
          clearTimeout(grace);
        }
        // Then the running jobs checkpoint their work; they resume on the next start.
        await jobs.close();
        if (temporary) await rm(folders.root, { recursive: true, force: true });
      })();
      return closing;
    },
    stats() {
      return structuredClone(local.counters);
    },
  };
}
