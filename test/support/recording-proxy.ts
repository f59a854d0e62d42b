/**
 * A recording proxy for tests: listens on 127.0.0.1:0, forwards every request unchanged to a
 * real server (the local `startServer`) and records what the client sent and what came back, so
 * a test can read the task types, titles and sizes that went over the wire. A connection the
 * server drops is dropped to the client too.
 *
 * @module
 */

import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** One embedding request as it went over the wire. */
export interface ProxiedRequest {
  /** Path without the query (e.g. `/v1beta/models/gemini-embedding-001:batchEmbedContents`). */
  path: string;
  /** The JSON body the client sent (undefined when not JSON). */
  body: unknown;
  /** The server's HTTP status; undefined when the server dropped the connection. */
  status: number | undefined;
}

/** A running proxy. */
export interface RecordingProxy {
  url: string;
  requests: ProxiedRequest[];
  /** Every `{ taskType, title, outputDimensionality, text }` sent, in send order. */
  sentItems(): { taskType?: string; title?: string; outputDimensionality?: number; text: string }[];
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of request) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** Starts a proxy in front of `target` (e.g. `http://127.0.0.1:1234`). */
export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer(async (request, response) => {
    const body = await readBody(request);
    let json: unknown;
    try {
      json = JSON.parse(body.toString("utf8"));
    } catch {
      json = undefined;
    }
    const entry: ProxiedRequest = {
      path: (request.url ?? "").split("?")[0]!,
      body: json,
      status: undefined,
    };
    requests.push(entry);
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers)) {
      if (name === "host" || name === "connection" || name === "content-length") continue;
      if (typeof value === "string") headers.set(name, value);
    }
    try {
      const answer = await fetch(`${target}${request.url ?? ""}`, {
        method: request.method ?? "GET",
        headers,
        ...(body.length > 0 ? { body } : {}),
      });
      const payload = Buffer.from(await answer.arrayBuffer());
      entry.status = answer.status;
      const out: Record<string, string> = {};
      answer.headers.forEach((value, name) => {
        if (name !== "content-length" && name !== "transfer-encoding" && name !== "connection")
          out[name] = value;
      });
      response.writeHead(answer.status, out);
      response.end(payload);
    } catch {
      request.socket.destroy();
    }
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    sentItems() {
      const items: ReturnType<RecordingProxy["sentItems"]> = [];
      for (const entry of requests) {
        const body = entry.body as
          | {
              requests?: Record<string, unknown>[];
              content?: unknown;
            }
          | undefined;
        const list = body?.requests ?? (body?.content ? [body as Record<string, unknown>] : []);
        for (const item of list) {
          const parts = (item.content as { parts?: { text?: string }[] } | undefined)?.parts;
          items.push({
            text: parts?.map((part) => part.text ?? "").join("") ?? "",
            ...(typeof item.taskType === "string" ? { taskType: item.taskType } : {}),
            ...(typeof item.title === "string" ? { title: item.title } : {}),
            ...(typeof item.outputDimensionality === "number"
              ? { outputDimensionality: item.outputDimensionality }
              : {}),
          });
        }
      }
      return items;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
