/**
 * The HTTP side of the local server (fastify): the embeddings surface of the Gemini API under
 * `/v1beta/...`, the resumable upload under `/upload/v1beta/files`, downloads under
 * `/download/v1beta/files/...`, plus `/health` and Prometheus `/metrics`.
 *
 * @module
 */

import { mkdtemp, rm } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { Transform } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { type ListFilesResponse, MODELS, type Model, type ModelInfo } from "gembed";
import { FaultDice } from "./faults.js";
import { FileStore } from "./files.js";
import { JobManager } from "./jobs.js";
import { embedQuantized } from "./local-model.js";
import { ServerMetrics } from "./metrics.js";
import {
  type ResolvedOptions,
  type RunningServer,
  resolveOptions,
  type ServerOptions,
  type ServerStats,
} from "./options.js";
import { QuotaTracker } from "./quota.js";
import {
  batchRequestError,
  type CheckedRequest,
  checkRequest,
  resolveModel,
  singleRequestError,
  type Violation,
} from "./requests.js";
import { apiKeyInvalid, invalidArgument, notFound, ServerApiError } from "./status.js";
import { prepareDataFolder } from "./storage.js";
import { buildJson, embeddingsJson } from "./wire.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The endpoint name, for stats and metrics. */
    endpoint: string;
  }
}

const MAX_BATCH_REQUESTS = 100;
/** How long close() lets requests in flight finish before cutting their connections. */
const CLOSE_GRACE_MS = 10_000;

/**
 * Removes the value of `key=...` from a URL so that no log line carries an API key. The name is
 * compared decoded (`%6Bey=` is `key=` to the query parser, so it is an API key too).
 */
export function redactUrl(url: string): string {
  return url.replace(/([?&])([^=&#]*)=([^&#]*)/g, (whole, separator: string, name: string) => {
    let decoded = name;
    try {
      decoded = decodeURIComponent(name.replace(/\+/g, " "));
    } catch {
      // A malformed name is kept as it is.
    }
    return decoded.trim().toLowerCase() === "key" ? `${separator}${name}=[REDACTED]` : whole;
  });
}

function pageToken(offset: number): string {
  return Buffer.from(`o${offset}`, "utf8").toString("base64url");
}

function splitVerb(value: string): [string, string | undefined] {
  const at = value.lastIndexOf(":");
  return at < 0 ? [value, undefined] : [value.slice(0, at), value.slice(at + 1)];
}

function baseUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.headers.host ?? request.hostname}`;
}

function pageOf<T>(
  items: T[],
  query: Record<string, unknown>,
  defaultSize: number,
  maxSize: number,
): { page: T[]; offset: number; nextPageToken: string | undefined } {
  const sizeRaw = query.pageSize ?? query.page_size;
  let size = defaultSize;
  if (sizeRaw !== undefined) {
    const parsed = Number(sizeRaw);
    if (!Number.isInteger(parsed) || parsed < 0) {
      throw invalidArgument(`Invalid value at 'page_size' (TYPE_INT32), "${String(sizeRaw)}"`);
    }
    size = parsed === 0 ? defaultSize : Math.min(parsed, maxSize);
  }
  const tokenRaw = query.pageToken ?? query.page_token;
  let offset = 0;
  if (typeof tokenRaw === "string" && tokenRaw.length > 0) {
    const decoded = Number(Buffer.from(tokenRaw, "base64url").toString("utf8").replace(/^o/, ""));
    if (!Number.isInteger(decoded) || decoded < 0) throw invalidArgument("Invalid page token.");
    offset = decoded;
  }
  const page = items.slice(offset, offset + size);
  const next = offset + size < items.length ? offset + size : undefined;
  return { page, offset, nextPageToken: next === undefined ? undefined : pageToken(next) };
}

function modelJson(model: ModelInfo): Model {
  return {
    name: `models/${model.id}`,
    version: model.version,
    displayName: model.displayName,
    description: `Local stand-in for ${model.displayName} (gembed serve): deterministic vectors, not Gemini's.`,
    inputTokenLimit: model.inputTokenLimit,
    outputTokenLimit: 1,
    supportedGenerationMethods: [
      "embedContent",
      "countTextTokens",
      "countTokens",
      "asyncBatchEmbedContent",
    ],
  };
}

/** A server being built: all its parts. @internal */
class LocalServer {
  readonly quota: QuotaTracker;
  readonly dice: FaultDice;
  readonly metrics: ServerMetrics;
  readonly counters: ServerStats = {
    requests: 0,
    texts: 0,
    tokens: 0,
    byEndpoint: {},
    batchesCreated: 0,
    filesUploaded: 0,
    quotaRejections: 0,
    faults: {},
  };

  constructor(
    readonly options: ResolvedOptions,
    readonly files: FileStore,
    readonly jobs: JobManager,
  ) {
    this.quota = new QuotaTracker(options.quota);
    this.dice = new FaultDice(options.faults);
    this.metrics = new ServerMetrics(() => jobs.countByState());
  }

  countTexts(model: string, texts: number, tokens: number): void {
    this.counters.texts += texts;
    this.counters.tokens += tokens;
    this.metrics.texts.inc({ model }, texts);
    this.metrics.tokens.inc({ model }, tokens);
  }

  countFault(kind: string): void {
    this.counters.faults[kind] = (this.counters.faults[kind] ?? 0) + 1;
    this.metrics.faults.inc({ kind });
  }

  /** Latency, faults and quota of one embedding request; true when the connection was dropped. */
  async gate(
    request: FastifyRequest,
    reply: FastifyReply,
    model: string,
    texts: number,
    tokens: number,
  ): Promise<boolean> {
    if (this.dice.active) {
      const latency = this.dice.latency(texts);
      if (latency > 0) await sleep(latency);
      const fault = this.dice.roll();
      if (fault === "drop") {
        this.countFault("drop");
        reply.hijack();
        request.raw.socket.destroy();
        return true;
      }
      if (fault === "500") {
        this.countFault("500");
        throw new ServerApiError(500, "Internal error encountered.");
      }
      if (fault === "503") {
        this.countFault("503");
        throw new ServerApiError(503, "The model is overloaded. Please try again later.");
      }
    }
    try {
      this.quota.take(model, texts, tokens);
    } catch (error) {
      this.counters.quotaRejections++;
      this.metrics.quotaRejections.inc({ model });
      throw error;
    }
    return false;
  }
}

function registerRoutes(app: FastifyInstance, server: LocalServer): void {
  const { options, files, jobs } = server;

  app.get("/health", async (request) => {
    request.endpoint = "health";
    return { status: "ok" };
  });

  app.get("/metrics", async (request, reply) => {
    request.endpoint = "metrics";
    reply.type(server.metrics.registry.contentType);
    return server.metrics.registry.metrics();
  });

  app.get("/v1beta/models", async (request) => {
    request.endpoint = "models.list";
    return { models: Object.values(MODELS).map(modelJson) };
  });

  app.get<{ Params: { model: string } }>("/v1beta/models/:model", async (request) => {
    request.endpoint = "models.get";
    const [name, verb] = splitVerb(request.params.model);
    if (verb !== undefined) throw notFound("Method not found.");
    return modelJson(resolveModel(name, "embedContent"));
  });

  app.post<{ Params: { action: string } }>(
    "/v1beta/models/:action",
    { bodyLimit: Math.max(options.batchBodyLimit, options.bodyLimit) },
    async (request, reply) => {
      const [name, verb] = splitVerb(request.params.action);
      request.endpoint = verb ?? "unknown";
      if (verb !== "embedContent" && verb !== "batchEmbedContents") {
        if (verb === "asyncBatchEmbedContent") {
          const model = resolveModel(name, verb);
          const record = await jobs.create(model, request.body);
          server.counters.batchesCreated++;
          reply.type("application/json");
          return jobs.operationJson(record);
        }
        request.endpoint = "unknown";
        if (verb === undefined) throw notFound("Method not found.");
        resolveModel(name, verb);
        throw notFound(
          `models/${name} is not found for API version v1beta, or is not supported for ${verb}. Call ListModels to see the list of available models and their supported methods.`,
        );
      }
      const model = resolveModel(name, verb);
      const body = request.body;
      const violations: Violation[] = [];
      const checked: CheckedRequest[] = [];
      if (verb === "embedContent") {
        const one = checkRequest(body, model, "", violations);
        if (one === undefined) throw singleRequestError(violations);
        checked.push(one);
      } else {
        if (typeof body !== "object" || body === null || Array.isArray(body)) {
          throw invalidArgument("* BatchEmbedContentsRequest: the body must be a JSON object.");
        }
        for (const key of Object.keys(body)) {
          if (key !== "requests") {
            throw invalidArgument(
              `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`,
            );
          }
        }
        const requests = (body as { requests?: unknown }).requests;
        if (!Array.isArray(requests) || requests.length === 0) {
          throw invalidArgument(
            "* BatchEmbedContentsRequest.requests: at least one request is required.",
          );
        }
        if (requests.length > MAX_BATCH_REQUESTS) {
          throw invalidArgument(
            "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch",
          );
        }
        for (let index = 0; index < requests.length; index++) {
          const one = checkRequest(requests[index], model, `requests[${index}]`, violations);
          if (one !== undefined) checked.push(one);
        }
        if (violations.length > 0) throw batchRequestError(violations);
      }
      let tokens = 0;
      for (const one of checked) tokens += one.tokens;
      if (await server.gate(request, reply, model.id, checked.length, tokens)) return reply;
      const values = checked.map((one) =>
        embedQuantized(one.text, one.model, one.dimension, one.taskType, one.title),
      );
      server.countTexts(model.id, checked.length, tokens);
      const usage = `,"usageMetadata":{"promptTokenCount":${tokens}}`;
      reply.type("application/json");
      if (verb === "embedContent") {
        return buildJson(['{"embedding":{"values":[', `]}${usage}}`], values);
      }
      if (values.length > 0 && server.dice.rollShortAnswer()) {
        server.countFault("short");
        values.pop();
      }
      return embeddingsJson(values, usage);
    },
  );

  // --- batches ---

  app.get("/v1beta/batches", async (request, reply) => {
    request.endpoint = "batches.list";
    const all = jobs.list();
    const found = pageOf(all, request.query as Record<string, unknown>, 50, 1000);
    let nextPageToken = found.nextPageToken;
    // One by one, and the page ends early (with a token for the rest) once the inline outputs
    // it carries pass the inline output limit: a page of large jobs stays bounded in memory.
    const operations: string[] = [];
    let size = 0;
    for (const record of found.page) {
      if (operations.length > 0 && size > options.batch.maxInlineOutputBytes) {
        nextPageToken = pageToken(found.offset + operations.length);
        break;
      }
      const operation = await jobs.operationJson(record);
      size += operation.length;
      operations.push(operation);
    }
    reply.type("application/json");
    const next = nextPageToken === undefined ? "" : `,"nextPageToken":"${nextPageToken}"`;
    return operations.length === 0 && next === ""
      ? "{}"
      : `{"operations":[${operations.join(",")}]${next}}`;
  });

  app.get<{ Params: { id: string } }>("/v1beta/batches/:id", async (request, reply) => {
    request.endpoint = "batches.get";
    const [id, verb] = splitVerb(request.params.id);
    if (verb !== undefined) throw notFound("Method not found.");
    reply.type("application/json");
    return jobs.operationJson(jobs.get(id));
  });

  app.post<{ Params: { action: string } }>("/v1beta/batches/:action", async (request) => {
    const [id, verb] = splitVerb(request.params.action);
    request.endpoint = `batches.${verb ?? "unknown"}`;
    if (verb !== "cancel") throw notFound("Method not found.");
    await jobs.cancel(id);
    return {};
  });

  app.patch<{ Params: { action: string }; Querystring: Record<string, unknown> }>(
    "/v1beta/batches/:action",
    async (request, reply) => {
      const [id, verb] = splitVerb(request.params.action);
      request.endpoint = "batches.update";
      if (verb !== "updateEmbedContentBatch") throw notFound("Method not found.");
      const mask = request.query.updateMask ?? request.query.update_mask;
      const record = await jobs.update(
        id,
        typeof mask === "string" ? mask : undefined,
        request.body,
      );
      reply.type("application/json");
      return jobs.batchJson(record, false);
    },
  );

  app.delete<{ Params: { id: string } }>("/v1beta/batches/:id", async (request) => {
    request.endpoint = "batches.delete";
    const [id, verb] = splitVerb(request.params.id);
    if (verb !== undefined) throw notFound("Method not found.");
    await jobs.delete(id);
    return {};
  });

  // --- files ---

  app.get("/v1beta/files", async (request) => {
    request.endpoint = "files.list";
    const { page, nextPageToken } = pageOf(
      files.list(),
      request.query as Record<string, unknown>,
      10,
      100,
    );
    const base = baseUrl(request);
    const answer: ListFilesResponse = {};
    if (page.length > 0) answer.files = page.map((record) => files.toWire(record, base));
    if (nextPageToken !== undefined) answer.nextPageToken = nextPageToken;
    return answer;
  });

  const download = async (request: FastifyRequest, reply: FastifyReply, id: string) => {
    request.endpoint = "files.download";
    const record = files.get(id);
    // Streamed from disk: a responses file of gigabytes never sits in memory.
    const { stream, sizeBytes } = await files.read(id);
    reply.type(record.mimeType.includes("/") ? record.mimeType : "application/octet-stream");
    reply.header("content-length", String(sizeBytes));
    return reply.send(stream);
  };

  app.get<{ Params: { id: string } }>("/v1beta/files/:id", async (request, reply) => {
    const [id, verb] = splitVerb(request.params.id);
    if (verb === "download") return download(request, reply, id);
    request.endpoint = "files.get";
    if (verb !== undefined) throw notFound("Method not found.");
    return files.toWire(files.get(id), baseUrl(request));
  });

  app.get<{ Params: { id: string } }>("/download/v1beta/files/:id", async (request, reply) => {
    const [id, verb] = splitVerb(request.params.id);
    if (verb !== "download") {
      request.endpoint = "files.download";
      throw notFound("Method not found.");
    }
    return download(request, reply, id);
  });

  app.delete<{ Params: { id: string } }>("/v1beta/files/:id", async (request) => {
    request.endpoint = "files.delete";
    const [id, verb] = splitVerb(request.params.id);
    if (verb !== undefined) throw notFound("Method not found.");
    await files.delete(id);
    return {};
  });

  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      "*",
      { parseAs: "buffer", bodyLimit: options.uploadChunkLimit },
      (_request, body, done) => done(null, body),
    );
    scope.post<{ Querystring: Record<string, unknown> }>(
      "/upload/v1beta/files",
      { bodyLimit: options.uploadChunkLimit },
      async (request, reply) => {
        request.endpoint = "files.upload";
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const header = (name: string) => {
          const value = request.headers[name];
          return Array.isArray(value) ? value.join(",") : value;
        };
        const command = (header("x-goog-upload-command") ?? "").toLowerCase();
        const uploadId = request.query.upload_id;
        if (typeof uploadId !== "string") {
          if (
            (header("x-goog-upload-protocol") ?? "").toLowerCase() !== "resumable" ||
            command !== "start"
          ) {
            throw invalidArgument(
              "Only resumable uploads are supported: send X-Goog-Upload-Protocol: resumable and X-Goog-Upload-Command: start.",
            );
          }
          let parsed: unknown = {};
          if (body.length > 0) {
            try {
              parsed = JSON.parse(body.toString("utf8"));
            } catch {
              throw invalidArgument("Invalid JSON payload received.");
            }
          }
          const session = await files.startUpload(parsed, request.headers);
          const url = `${baseUrl(request)}/upload/v1beta/files?upload_id=${session}&upload_protocol=resumable`;
          reply.header("x-goog-upload-url", url);
          reply.header("x-goog-upload-status", "active");
          reply.header("x-goog-upload-chunk-granularity", "8388608");
          reply.header("x-goog-upload-control-url", url);
          return "";
        }
        const offsetHeader = header("x-goog-upload-offset");
        const offset = offsetHeader === undefined ? undefined : Number(offsetHeader);
        if (offset !== undefined && (!Number.isInteger(offset) || offset < 0)) {
          throw invalidArgument(`Invalid X-Goog-Upload-Offset "${offsetHeader}".`);
        }
        const result = await files.uploadChunk(uploadId, command, offset, body);
        reply.header("x-goog-upload-size-received", String(result.received));
        if (result.file === undefined) {
          reply.header("x-goog-upload-status", "active");
          return "";
        }
        server.counters.filesUploaded++;
        reply.header("x-goog-upload-status", "final");
        return { file: files.toWire(result.file, baseUrl(request)) };
      },
    );
  });
}

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

  const app = Fastify({
    logger:
      resolved.logLevel === "silent"
        ? false
        : {
            level: resolved.logLevel,
            ...(resolved.logStream !== undefined ? { stream: resolved.logStream } : {}),
            redact: {
              // `err.rawPacket`: the raw bytes of a malformed request (headers and all) that
              // fastify logs with a client error.
              paths: ['req.headers["x-goog-api-key"]', "req.query.key", "headers", "err.rawPacket"],
              censor: "[REDACTED]",
            },
            serializers: {
              req: (request: FastifyRequest) => ({
                method: request.method,
                url: redactUrl(request.url),
              }),
            },
          },
    bodyLimit: resolved.bodyLimit,
    // On close, idle keep-alive connections go at once; requests in flight finish (see close()).
    forceCloseConnections: "idle",
    return503OnClosing: true,
    routerOptions: { maxParamLength: 500 },
  });
  app.decorateRequest("endpoint", "");
  // Plain JSON.parse (faster than the default parser), and an empty body reads as no body: the
  // official SDKs send DELETE and :cancel with a JSON content type and nothing in it.
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_request, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.trim().length === 0) {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(
        invalidArgument(`Invalid JSON payload received. ${(error as Error).message}`),
        undefined,
      );
    }
  });

  app.addHook("onRequest", async (request) => {
    (request as FastifyRequest & { startedAt: bigint }).startedAt = process.hrtime.bigint();
    const url = request.url;
    request.endpoint = endpointOf(request.method, url);
    if (
      resolved.apiKeys !== undefined &&
      (url.startsWith("/v1beta") || url.startsWith("/upload/") || url.startsWith("/download/"))
    ) {
      const header = request.headers["x-goog-api-key"];
      const query = (request.query as Record<string, unknown>).key;
      const key = typeof header === "string" ? header : typeof query === "string" ? query : "";
      if (!resolved.apiKeys.has(key)) throw apiKeyInvalid();
    }
  });

  // The embedding endpoints take at most `bodyLimit` bytes; asyncBatchEmbedContent more.
  app.addHook("preParsing", async (request, _reply, payload) => {
    const url = request.url;
    if (!url.startsWith("/v1beta/models/")) return payload;
    const limit = /:asyncBatchEmbedContent(\?|$)/.test(url)
      ? resolved.batchBodyLimit
      : resolved.bodyLimit;
    const length = Number(request.headers["content-length"]);
    if (Number.isFinite(length) && length > limit) throw payloadTooLarge(limit);
    let seen = 0;
    return payload.pipe(
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          seen += chunk.length;
          if (seen > limit) callback(payloadTooLarge(limit));
          else callback(null, chunk);
        },
      }),
    ) as unknown as typeof payload;
  });

  // While closing, an answer ends its connection, so close() does not wait on keep-alive.
  let shuttingDown = false;
  app.addHook("onSend", async (_request, reply, payload) => {
    if (shuttingDown) reply.header("connection", "close");
    return payload;
  });

  app.addHook("onResponse", async (request, reply) => {
    const endpoint = request.endpoint || "unknown";
    local.counters.requests++;
    local.counters.byEndpoint[endpoint] = (local.counters.byEndpoint[endpoint] ?? 0) + 1;
    local.metrics.requests.inc({ endpoint, code: String(reply.statusCode) });
    const startedAt = (request as FastifyRequest & { startedAt?: bigint }).startedAt;
    if (startedAt !== undefined) {
      const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
      local.metrics.latency.observe({ endpoint }, seconds);
    }
  });

  app.setErrorHandler(async (error, request, reply) => {
    const answer = toApiError(error, request);
    if (
      answer.httpStatus >= 500 &&
      answer.httpStatus !== 503 &&
      !(error instanceof ServerApiError)
    ) {
      request.log.error({ err: error }, "unexpected error");
    }
    reply.code(answer.httpStatus).type("application/json");
    return answer.toBody();
  });

  app.setNotFoundHandler(async (request, reply) => {
    request.endpoint = "unknown";
    reply.code(404).type("application/json");
    return notFound(`Method not found: ${request.method} ${redactUrl(request.url)}`).toBody();
  });

  registerRoutes(app, server);

  await app.listen({ port: resolved.port, host: resolved.host });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : resolved.port;
  const host = resolved.host.includes(":") ? `[${resolved.host}]` : resolved.host;
  const url = `http://${host}:${port}`;

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

/** The endpoint name of a request, known before routing (for requests refused early). */
function endpointOf(method: string, url: string): string {
  const pathname = url.split("?")[0] ?? "";
  const verb = /:([A-Za-z]+)$/.exec(pathname)?.[1];
  if (pathname.startsWith("/v1beta/models")) {
    if (verb !== undefined) return verb;
    return pathname === "/v1beta/models" ? "models.list" : "models.get";
  }
  if (pathname.startsWith("/v1beta/batches")) {
    if (pathname === "/v1beta/batches") return "batches.list";
    if (verb === "cancel") return "batches.cancel";
    if (verb === "updateEmbedContentBatch") return "batches.update";
    return method === "DELETE" ? "batches.delete" : "batches.get";
  }
  if (pathname.startsWith("/upload/")) return "files.upload";
  if (pathname.startsWith("/download/") || verb === "download") return "files.download";
  if (pathname.startsWith("/v1beta/files")) {
    if (pathname === "/v1beta/files") return "files.list";
    return method === "DELETE" ? "files.delete" : "files.get";
  }
  return "unknown";
}

function payloadTooLarge(limit: number): ServerApiError {
  return invalidArgument(`Request payload size exceeds the limit: ${limit} bytes.`);
}

function toApiError(error: unknown, request: FastifyRequest): ServerApiError {
  if (error instanceof ServerApiError) return error;
  const code = (error as { code?: string }).code;
  const statusCode = (error as { statusCode?: number }).statusCode;
  if (code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    const limit = request.routeOptions.bodyLimit ?? 0;
    return payloadTooLarge(limit);
  }
  if (code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
    return invalidArgument(
      `Invalid Content-Type "${String(request.headers["content-type"])}": send application/json.`,
    );
  }
  if (code === "FST_ERR_CTP_EMPTY_JSON_BODY") {
    return invalidArgument("Invalid JSON payload received. Empty body.");
  }
  if (error instanceof SyntaxError || code === "FST_ERR_CTP_INVALID_JSON_BODY") {
    return invalidArgument(
      `Invalid JSON payload received. ${error instanceof Error ? error.message : "Unexpected token."}`,
    );
  }
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
    return new ServerApiError(
      statusCode === 413 ? 400 : statusCode,
      error instanceof Error ? error.message : "Bad request.",
    );
  }
  return new ServerApiError(500, "Internal error encountered.");
}
