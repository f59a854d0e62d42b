/**
 * A small scripted HTTP server for tests: listens on 127.0.0.1:0, records every request (method,
 * path, query, headers, body, arrival time) and answers from a script: a queue of replies taken
 * in order, then a fallback.
 *
 * @module
 */

import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** A request the server received. */
export interface RecordedRequest {
  method: string;
  /** The path and query as sent. */
  url: string;
  /** The path without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** `performance.now()` when the request's body was complete. */
  at: number;
  /** The body parsed as JSON. */
  json(): unknown;
  /** True when the server cut the connection in the middle of the body (see `cutBody`). */
  interrupted?: boolean;
}

/** A request's head, as `cutBody` sees it before any byte of the body. */
export interface RequestHead {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** One answer. */
export interface Reply {
  /** @default 200 */
  status?: number;
  headers?: Record<string, string>;
  /** Sent as JSON (with `content-type: application/json`). */
  json?: unknown;
  /** Sent as is. */
  body?: string | Uint8Array;
  /** Wait before answering. @default 0 */
  delayMs?: number;
  /** Destroy the socket instead of answering (a connection reset). */
  reset?: boolean;
  /** Send the status, headers and this much of the body, then destroy the socket. */
  resetAfterBytes?: number;
  /** Never answer (until the client gives up or the server closes). */
  hang?: boolean;
  /**
   * Send the status and headers, then this piece over and over (chunked, no length) until the
   * client goes away; `sentBytes` of the returned reply counts what was written.
   */
  endlessBody?: Uint8Array;
  /** Filled in by the server for `endlessBody`: bytes written so far. */
  sentBytes?: number;
}

/** A reply, or a function of the request that gives one. */
export type Script = Reply | ((request: RecordedRequest) => Reply | Promise<Reply>);

/** A running scripted server. */
export interface ScriptedServer {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** Adds replies to the queue, used in order, one per request. */
  enqueue(...scripts: Script[]): void;
  /** What answers when the queue is empty. Default: 500 with a google.rpc.Status "no script". */
  fallback: Script;
  /**
   * Called with each request's head; a number N makes the server destroy the connection once N
   * bytes of the body arrived (a reset in the middle of the body). The request is then recorded
   * with the N bytes and `interrupted: true`, and takes no script.
   */
  cutBody: ((head: RequestHead) => number | undefined) | undefined;
  /** Closes the server and every open connection. */
  close(): Promise<void>;
}

/** Starts a scripted server on 127.0.0.1:0. */
export async function startScriptedServer(...queue: Script[]): Promise<ScriptedServer> {
  const scripts: Script[] = [...queue];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const pending = new Set<NodeJS.Timeout>();
  const state: { fallback: Script; cutBody: ScriptedServer["cutBody"] } = {
    cutBody: undefined,
    fallback: {
      status: 500,
      json: { error: { code: 500, message: "no script for this request", status: "INTERNAL" } },
    },
  };

  const server: Server = createServer((request, response) => {
    const pieces: Buffer[] = [];
    const url = request.url ?? "/";
    const method = request.method ?? "GET";
    const record = (body: Buffer): RecordedRequest => {
      const parsed = new URL(url, "http://127.0.0.1");
      const recorded: RecordedRequest = {
        method,
        url,
        path: parsed.pathname,
        query: parsed.searchParams,
        headers: request.headers,
        body,
        at: performance.now(),
        json: () => JSON.parse(body.toString("utf8")),
      };
      requests.push(recorded);
      return recorded;
    };
    const cutAt = state.cutBody?.({ method, url, headers: request.headers });
    let arrived = 0;
    let cut = false;
    request.on("data", (piece: Buffer) => {
      if (cut) return;
      if (cutAt !== undefined && arrived + piece.byteLength >= cutAt) {
        cut = true;
        pieces.push(piece.subarray(0, cutAt - arrived));
        record(Buffer.concat(pieces)).interrupted = true;
        request.socket.destroy();
        return;
      }
      pieces.push(piece);
      arrived += piece.byteLength;
    });
    request.on("end", () => {
      if (cut) return;
      const recorded = record(Buffer.concat(pieces));
      const script = scripts.shift() ?? state.fallback;
      Promise.resolve(typeof script === "function" ? script(recorded) : script).then(
        (reply) => answer(response, reply),
        (error: unknown) => {
          response.statusCode = 500;
          response.end(String(error));
        },
      );
    });
  });

  function answer(response: ServerResponse, reply: Reply): void {
    const send = () => {
      if (reply.hang) return;
      if (reply.reset) {
        response.socket?.destroy();
        return;
      }
      let body: Uint8Array | string = "";
      const headers: Record<string, string> = { ...reply.headers };
      if (reply.json !== undefined) {
        body = JSON.stringify(reply.json);
        headers["content-type"] ??= "application/json; charset=UTF-8";
      } else if (reply.body !== undefined) {
        body = reply.body;
      }
      const bytes = typeof body === "string" ? Buffer.from(body) : Buffer.from(body);
      if (reply.endlessBody !== undefined) {
        const piece = reply.endlessBody;
        reply.sentBytes = 0;
        response.writeHead(reply.status ?? 200, headers);
        const pump = () => {
          while (!response.destroyed && !response.writableEnded) {
            reply.sentBytes = (reply.sentBytes ?? 0) + piece.byteLength;
            if (!response.write(piece)) {
              response.once("drain", pump);
              return;
            }
          }
        };
        response.on("error", () => undefined);
        pump();
        return;
      }
      if (reply.resetAfterBytes !== undefined) {
        response.writeHead(reply.status ?? 200, {
          ...headers,
          "content-length": String(bytes.byteLength),
        });
        response.write(bytes.subarray(0, reply.resetAfterBytes), () => {
          response.socket?.destroy();
        });
        return;
      }
      response.writeHead(reply.status ?? 200, {
        ...headers,
        "content-length": String(bytes.byteLength),
      });
      response.end(bytes);
    };
    if (reply.delayMs) {
      const timer = setTimeout(() => {
        pending.delete(timer);
        send();
      }, reply.delayMs);
      pending.add(timer);
    } else {
      send();
    }
  }

  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    enqueue: (...more) => {
      scripts.push(...more);
    },
    get fallback() {
      return state.fallback;
    },
    set fallback(script: Script) {
      state.fallback = script;
    },
    get cutBody() {
      return state.cutBody;
    },
    set cutBody(cut: ScriptedServer["cutBody"]) {
      state.cutBody = cut;
    },
    close: async () => {
      for (const timer of pending) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A google.rpc.Status error body. */
export function statusBody(
  code: number,
  status: string,
  message: string,
  details: Record<string, unknown>[] = [],
): { error: Record<string, unknown> } {
  return { error: { code, message, status, ...(details.length ? { details } : {}) } };
}

/** A 429 RESOURCE_EXHAUSTED reply as Gemini sends it: QuotaFailure and RetryInfo, no Retry-After. */
export function quotaReply(retryDelay: string, quotaId: string): Reply {
  return {
    status: 429,
    json: statusBody(
      429,
      "RESOURCE_EXHAUSTED",
      "You exceeded your current quota, please check your plan and billing details.",
      [
        {
          "@type": "type.googleapis.com/google.rpc.QuotaFailure",
          violations: [
            {
              quotaMetric: "generativelanguage.googleapis.com/embed_content_free_tier_requests",
              quotaId,
            },
          ],
        },
        { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay },
      ],
    ),
  };
}
