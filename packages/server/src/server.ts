/**
 * The HTTP side of the local server (fastify): the embeddings surface of the Gemini API under
 * `/v1beta/...`, the resumable upload under `/upload/v1beta/files`, downloads under
 * `/download/v1beta/files/...`, plus `/health` and Prometheus `/metrics`.
 *
 * @module
 */

import { mkdtemp, rm } from "node:fs/promises";
import { type ServerResponse, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Transform } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from "fastify";
import type { ListFilesResponse, Model } from "gembed";
import { MODELS, type ModelInfo } from "gembed";
import { FaultDice } from "./faults.js";
import { FileStore } from "./files.js";
import { JobManager } from "./jobs.js";
import { nestedDeeperThan } from "./json-depth.js";
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

/**
 * Serves the `v1` API as `v1beta`: the Python SDK `google-genai` (3.x) calls
 * `/v1/models/...:batchEmbedContents`, `/v1/batches`, `/upload/v1/files` by default, and the
 * embeddings surface is the same under both versions.
 */
export function v1AsV1beta(url: string): string {
  return url.replace(/^\/((?:upload|download)\/)?v1(?=[/?]|$)/, (_whole, prefix?: string) => {
    return `/${prefix ?? ""}v1beta`;
  });
}

function pageToken(offset: number): string {
  return Buffer.from(`o${offset}`, "utf8").toString("base64url");
}

function splitVerb(value: string): [string, string | undefined] {
  const at = value.lastIndexOf(":");
  return at < 0 ? [value, undefined] : [value.slice(0, at), value.slice(at + 1)];
}

/**
 * The server URL to put in answers (`x-goog-upload-url`, a file's `uri`): the `Host` the client
 * used when it names this server (see {@link acceptedHost}), else the server's own address. The
 * header is the requester's to write, so it is never copied unchecked.
 */
function baseUrl(request: FastifyRequest, self: SelfAddress): string {
  const host = request.headers.host;
  return typeof host === "string" && acceptedHost(host, self) ? `http://${host}` : self.url;
}

/** Where the server listens, for {@link baseUrl}. */
interface SelfAddress {
  /** `http://host:port` as a client on this machine reaches it. */
  url: string;
  /** The host it was asked to listen on (`127.0.0.1`, `0.0.0.0`, `::`...). */
  host: string;
  port: number;
}

const LOOPBACK_NAMES = new Set(["127.0.0.1", "localhost", "[::1]"]);
const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", "[::]"]);
/** A DNS name or an IPv4 address, or a bracketed IPv6 address; then an optional port. */
const HOST_PATTERN =
  /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;

/**
 * True when a `Host` header names this server: a well-formed `name[:port]` (no path, no user,
 * nothing a URL could be bent with) whose name is a loopback name or the host the server listens
 * on (any well-formed name when it listens on all interfaces, since it is then reached under
 * names it cannot know). The port is not compared: a proxy in front may listen on another one.
 */
export function acceptedHost(host: string, self: SelfAddress): boolean {
  const match = HOST_PATTERN.exec(host);
  if (match === null || Number(match[2] ?? 80) > 65535) return false;
  const name = (match[1] as string).toLowerCase();
  const listening = self.host.includes(":") ? `[${self.host}]` : self.host;
  return (
    LOOPBACK_NAMES.has(name) || name === listening.toLowerCase() || WILDCARD_HOSTS.has(self.host)
  );
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
  if (tokenRaw !== undefined && tokenRaw !== "") {
    // Only a token this server gave: base64url of `o<offset>` (Buffer.from would skip the
    // characters that are not base64 and read `%%%` as offset 0).
    const decoded =
      typeof tokenRaw === "string" && /^[A-Za-z0-9_-]+$/.test(tokenRaw)
        ? /^o(0|[1-9]\d{0,15})$/.exec(Buffer.from(tokenRaw, "base64url").toString("utf8"))
        : null;
    if (decoded === null || pageToken(Number(decoded[1])) !== tokenRaw) {
      throw invalidArgument(
        `Invalid page token ${JSON.stringify(String(tokenRaw))}: pass the nextPageToken of the previous page.`,
      );
    }
    offset = Number(decoded[1]);
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

function registerRoutes(app: FastifyInstance, server: LocalServer, self: SelfAddress): void {
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
        const one = checkRequest(body, model, "", violations, files);
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
          const one = checkRequest(requests[index], model, `requests[${index}]`, violations, files);
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
    const base = baseUrl(request, self);
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
    return files.toWire(files.get(id), baseUrl(request, self));
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
          const url = `${baseUrl(request, self)}/upload/v1beta/files?upload_id=${session}&upload_protocol=resumable`;
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
        return { file: files.toWire(result.file, baseUrl(request, self)) };
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

  // Where the server listens; known once it listens (port 0 picks one), read by the routes.
  const self: SelfAddress = { url: "", host: resolved.host, port: resolved.port };
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
    // What the router refuses before any route runs: a google.rpc.Status, never the raw URL
    // (it may hold `?key=`).
    frameworkErrors: (error, _request, reply) => {
      const tooLong = (error as { code?: string }).code === "FST_ERR_MAX_PARAM_LENGTH";
      const answer = new ServerApiError(
        tooLong ? 414 : 400,
        tooLong
          ? "A path segment of the URL is longer than 500 characters."
          : "The URL is not valid: a path segment has a malformed percent-encoding.",
        undefined,
        "INVALID_ARGUMENT",
      );
      (reply as FastifyReply).code(answer.httpStatus).type("application/json");
      (reply as FastifyReply).send(JSON.stringify(answer.toBody()));
    },
    clientErrorHandler: clientErrorAnswer,
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
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      done(
        invalidArgument(`Invalid JSON payload received. ${(error as Error).message}`),
        undefined,
      );
      return;
    }
    // Deeper values would break JSON.stringify (a RangeError) wherever the server writes them.
    if (nestedDeeperThan(parsed, MAX_JSON_DEPTH)) {
      done(
        invalidArgument(
          `Invalid JSON payload received. The value is nested deeper than ${MAX_JSON_DEPTH} levels.`,
        ),
        undefined,
      );
      return;
    }
    done(null, parsed);
  });

  // While closing, an answer ends its connection, so close() does not wait on keep-alive.
  let shuttingDown = false;
  app.addHook("onRequest", async (request) => {
    (request as FastifyRequest & { startedAt: bigint }).startedAt = process.hrtime.bigint();
    request.endpoint = endpointOf(request.method, request.routeOptions.url, request.url);
    if (shuttingDown) {
      throw new ServerApiError(503, "The server is shutting down.", undefined, "UNAVAILABLE");
    }
    // The key is checked on the route the router chose (it decodes `%76` and reads an
    // absolute-form target), never on the raw URL: every route but /health and /metrics, and
    // unknown paths too.
    const route = request.routeOptions.url;
    // The URL of an upload session is its credential, as at Google: google-genai (Python)
    // sends the chunks of `files.upload` to it without the API key. It was handed out only to a
    // start request that passed the key check, and an unknown session is a 404.
    const uploadSession =
      route === "/upload/v1beta/files" &&
      typeof (request.query as Record<string, unknown>).upload_id === "string";
    if (
      resolved.apiKeys !== undefined &&
      !uploadSession &&
      route !== "/health" &&
      route !== "/metrics"
    ) {
      const header = request.headers["x-goog-api-key"];
      const query = (request.query as Record<string, unknown>).key;
      const key = typeof header === "string" ? header : typeof query === "string" ? query : "";
      if (!resolved.apiKeys.has(key)) throw apiKeyInvalid();
    }
  });

  // The embedding endpoints take at most `bodyLimit` bytes; asyncBatchEmbedContent more.
  app.addHook("preParsing", async (request, _reply, payload) => {
    if (request.routeOptions.url !== "/v1beta/models/:action") return payload;
    const action = (request.params as { action?: string }).action ?? "";
    const limit = action.endsWith(":asyncBatchEmbedContent")
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
    const seconds = startedAt === undefined ? 0 : Number(process.hrtime.bigint() - startedAt) / 1e9;
    if (startedAt !== undefined) local.metrics.latency.observe({ endpoint }, seconds);
    // One line per request; the URL with any `key=` redacted, and no headers.
    request.log.info(
      {
        method: request.method,
        url: redactUrl(request.url),
        endpoint,
        statusCode: reply.statusCode,
        ms: Math.round(seconds * 1e4) / 10,
      },
      `${request.method} ${endpoint} ${reply.statusCode}`,
    );
  });

  app.setErrorHandler(async (error, request, reply) => {
    const answer = toApiError(error, request, folders.root, resolved.apiKeys);
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
    // The path only (a query may hold a key, even inside another parameter's value), and never
    // a configured key, wherever it was put.
    let pathname = request.url.split("?")[0] ?? "";
    for (const key of resolved.apiKeys ?? []) pathname = pathname.split(key).join("[REDACTED]");
    return notFound(`Method not found: ${request.method} ${pathname.slice(0, 200)}`).toBody();
  });

  registerRoutes(app, server, self);

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

/**
 * The endpoint name of a request, for stats, metrics and the log line: from the route the router
 * chose (and the verb of its last segment), so a percent-encoded path counts where it went.
 */
function endpointOf(method: string, route: string | undefined, url: string): string {
  let pathname = url.split("?")[0] ?? "";
  try {
    pathname = decodeURIComponent(pathname);
  } catch {
    // Kept as it is: the router refused it anyway.
  }
  const verb = /:([A-Za-z]+)$/.exec(pathname)?.[1];
  switch (route) {
    case "/health":
      return "health";
    case "/metrics":
      return "metrics";
    case "/v1beta/models":
      return "models.list";
    case "/v1beta/models/:model":
      return "models.get";
    case "/v1beta/models/:action":
      return verb ?? "unknown";
    case "/v1beta/batches":
      return "batches.list";
    case "/v1beta/batches/:id":
      return method === "DELETE" ? "batches.delete" : "batches.get";
    case "/v1beta/batches/:action":
      if (method === "PATCH") return "batches.update";
      return verb === "cancel" ? "batches.cancel" : "batches.unknown";
    case "/v1beta/files":
      return "files.list";
    case "/v1beta/files/:id":
      if (method === "DELETE") return "files.delete";
      return verb === "download" ? "files.download" : "files.get";
    case "/download/v1beta/files/:id":
      return "files.download";
    case "/upload/v1beta/files":
      return "files.upload";
    default:
      return "unknown";
  }
}

/** JSON bodies nested deeper than this are refused (as protobuf's JSON parser does, at 100). */
const MAX_JSON_DEPTH = 100;

/** What Node's parser refused, by error code: the HTTP status and what to say. */
function clientErrorOf(code: string | undefined): [number, string, string] {
  if (code === "ERR_HTTP_REQUEST_TIMEOUT") {
    return [408, "DEADLINE_EXCEEDED", "The request was not received in time (headers or body)."];
  }
  if (code === "HPE_HEADER_OVERFLOW") {
    return [431, "INVALID_ARGUMENT", "The request headers are too large."];
  }
  if (code === "HPE_URI_TOO_LONG") {
    return [414, "INVALID_ARGUMENT", "The request URL is too long."];
  }
  return [400, "INVALID_ARGUMENT", "The request is not valid HTTP/1.1."];
}

/**
 * Answers a request Node's HTTP parser refused (a malformed request, headers too large, a
 * request not received in time) with a google.rpc.Status body, then closes the connection. The
 * raw request (which may hold a key) is neither echoed nor logged.
 */
function clientErrorAnswer(this: FastifyInstance, error: Error, socket: Socket): void {
  const code = (error as { code?: string }).code;
  if (code === "ECONNRESET" || socket.destroyed) return;
  const [httpStatus, status, message] = clientErrorOf(code);
  this.log.debug({ code }, "client error");
  // A response already under way on this connection cannot be followed by another one.
  const busy = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && busy?.headersSent !== true) {
    const body = JSON.stringify(
      new ServerApiError(httpStatus, message, undefined, status).toBody(),
    );
    socket.write(
      `HTTP/1.1 ${httpStatus} ${STATUS_CODES[httpStatus] ?? "Error"}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** File system error codes that say the data folder cannot be written. */
const UNWRITABLE_CODES = new Set(["EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT"]);

function payloadTooLarge(limit: number): ServerApiError {
  return invalidArgument(`Request payload size exceeds the limit: ${limit} bytes.`);
}

function toApiError(
  error: unknown,
  request: FastifyRequest,
  dataRoot: string,
  apiKeys: Set<string> | undefined,
): ServerApiError {
  if (error instanceof ServerApiError) return error;
  const code = (error as { code?: string }).code;
  const statusCode = (error as { statusCode?: number }).statusCode;
  if (code !== undefined && UNWRITABLE_CODES.has(code)) {
    return new ServerApiError(
      500,
      `The local server cannot write its data folder ${dataRoot} (${code}): make it writable (or start with another --data-dir).`,
    );
  }
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
    let message = error instanceof Error ? error.message : "Bad request.";
    // A framework message may quote what the client sent; a key never goes back.
    for (const key of apiKeys ?? []) message = message.split(key).join("[REDACTED]");
    return new ServerApiError(
      statusCode === 413 ? 400 : statusCode,
      redactUrl(message),
      undefined,
      statusCode === 408 ? "DEADLINE_EXCEEDED" : "INVALID_ARGUMENT",
    );
  }
  return new ServerApiError(500, "Internal error encountered.");
}
