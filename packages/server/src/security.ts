/**
 * The local server's guards, in one place: the API key check, the `Host` check, body and time
 * limits, the JSON parser's limits, and the error shape (every refusal a `google.rpc.Status`
 * body; no key in an answer or a log line).
 *
 * @module
 */

import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { Transform } from "node:stream";
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifyServerOptions,
} from "fastify";
import { nestedDeeperThan } from "./json-depth.js";
import type { ResolvedOptions } from "./options.js";
import { apiKeyInvalid, invalidArgument, notFound, ServerApiError } from "./status.js";

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
 * The server URL to put in answers (`x-goog-upload-url`, a file's `uri`): the `Host` the client
 * used when it names this server (see {@link acceptedHost}), else the server's own address. The
 * header is the requester's to write, so it is never copied unchecked.
 */
export function baseUrl(request: FastifyRequest, self: SelfAddress): string {
  const host = request.headers.host;
  return typeof host === "string" && acceptedHost(host, self) ? `http://${host}` : self.url;
}

/** Where the server listens, for {@link baseUrl}. */
export interface SelfAddress {
  /** `http://host:port` as a client on this machine reaches it. */
  url: string;
  /** The host it was asked to listen on (`127.0.0.1`, `0.0.0.0`, `::`...). */
  host: string;
  port: number;
}

const LOOPBACK_NAMES = new Set(["127.0.0.1", "localhost", "[::1]"]);
export const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", "[::]"]);
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

/**
 * The logger of the server: keys redacted from every place fastify may log them (the header, the
 * query, a malformed request's raw bytes), requests logged by method and redacted URL only.
 */
export function loggerOptions(
  options: ResolvedOptions,
): NonNullable<FastifyServerOptions["logger"]> {
  if (options.logLevel === "silent") return false;
  return {
    level: options.logLevel,
    ...(options.logStream !== undefined ? { stream: options.logStream } : {}),
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
  };
}

/**
 * What the router refuses before any route runs: a google.rpc.Status, never the raw URL (it may
 * hold `?key=`).
 */
export function frameworkErrorAnswer(
  error: FastifyError,
  _request: FastifyRequest,
  reply: FastifyReply,
): void {
  const tooLong = (error as { code?: string }).code === "FST_ERR_MAX_PARAM_LENGTH";
  const answer = new ServerApiError(
    tooLong ? 414 : 400,
    tooLong
      ? "A path segment of the URL is longer than 500 characters."
      : "The URL is not valid: a path segment has a malformed percent-encoding.",
    undefined,
    "INVALID_ARGUMENT",
  );
  reply.code(answer.httpStatus).type("application/json");
  reply.send(JSON.stringify(answer.toBody()));
}

/** What {@link installGuards} needs beyond the options. */
export interface GuardContext {
  /** The data folder, named when it cannot be written. */
  dataRoot: string;
  /** True once close() began: new requests are refused with 503. */
  isClosing: () => boolean;
}

/**
 * Installs the JSON parser (empty body as no body, depth limit), the shutdown and key checks on
 * every request, the body limits of the embedding endpoints, and the error and not-found
 * answers. Registered after the request observer (`routes/health.ts`), so a refused request is
 * still named and counted.
 */
export function installGuards(
  app: FastifyInstance,
  options: ResolvedOptions,
  context: GuardContext,
): void {
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

  app.addHook("onRequest", async (request) => {
    if (context.isClosing()) {
      throw new ServerApiError(503, "The server is shutting down.", undefined, "UNAVAILABLE");
    }
    // The key is checked on the route the router chose (it decodes `%76` and reads an
    // absolute-form target), never on the raw URL: every route, /health and /metrics included
    // (the counters tell what is served, to whom, and how much), and unknown paths too.
    const route = request.routeOptions.url;
    // The URL of an upload session is its credential, as at Google: google-genai (Python)
    // sends the chunks of `files.upload` to it without the API key. It was handed out only to a
    // start request that passed the key check, and an unknown session is a 404.
    const uploadSession =
      route === "/upload/v1beta/files" &&
      typeof (request.query as Record<string, unknown>).upload_id === "string";
    if (options.apiKeys !== undefined && !uploadSession) {
      const header = request.headers["x-goog-api-key"];
      const query = (request.query as Record<string, unknown>).key;
      const key = typeof header === "string" ? header : typeof query === "string" ? query : "";
      if (!options.apiKeys.has(key)) throw apiKeyInvalid();
    }
  });

  // The embedding endpoints take at most `bodyLimit` bytes; asyncBatchEmbedContent more.
  app.addHook("preParsing", async (request, _reply, payload) => {
    if (request.routeOptions.url !== "/v1beta/models/:action") return payload;
    const action = (request.params as { action?: string }).action ?? "";
    const limit = action.endsWith(":asyncBatchEmbedContent")
      ? options.batchBodyLimit
      : options.bodyLimit;
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

  app.setErrorHandler(async (error, request, reply) => {
    const answer = toApiError(error, request, context.dataRoot, options.apiKeys);
    // A fault of the server's own (a full data folder too): the operator must see it in the log.
    if (answer.httpStatus >= 500 && !(error instanceof ServerApiError)) {
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
    for (const key of options.apiKeys ?? []) pathname = pathname.split(key).join("[REDACTED]");
    return notFound(`Method not found: ${request.method} ${pathname.slice(0, 200)}`).toBody();
  });
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
export function clientErrorAnswer(this: FastifyInstance, error: Error, socket: Socket): void {
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
const UNWRITABLE_CODES = new Set(["EACCES", "EPERM", "EROFS"]);

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
  if (code === "ENOSPC" || code === "EDQUOT") {
    // 503 UNAVAILABLE, as Google answers a failure on its side that a later retry can get past:
    // nothing was stored (writes are atomic, a half-written upload chunk is taken back), so a
    // retry is safe, even of a batch creation. Not 429 RESOURCE_EXHAUSTED (which the canonical
    // codes allow for a full file system): over HTTP every client reads 429 as the caller's quota
    // and slows down for the wrong reason. Not 500: the fault is known and named.
    return new ServerApiError(
      503,
      `The local server's data folder ${dataRoot} is full (${code}): nothing was stored. Free space there (or restart with another --data-dir), then retry.`,
      undefined,
      "UNAVAILABLE",
    );
  }
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
