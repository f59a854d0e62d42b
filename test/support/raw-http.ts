/**
 * Raw HTTP/1.1 exchanges over `node:net`, for tests that must send bytes exactly as written:
 * `fetch` and `node:http` normalize a path, refuse some header values and never send an
 * absolute-form request target, which is what an attacker sends.
 */

import { connect } from "node:net";

/** One answer, as read from the socket. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The whole answer as received (status line, headers, body). */
  raw: string;
}

/**
 * Sends `request` (the full bytes of one request; `Connection: close` is the caller's to add) to
 * `url`'s port on 127.0.0.1 and reads until the server closes the connection. Resolves with
 * `undefined` when the server closed without a word.
 */
export function rawRequest(
  url: string,
  request: string | Buffer,
  timeoutMs = 10_000,
): Promise<RawAnswer | undefined> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(port), "127.0.0.1", () => socket.write(request));
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(parseAnswer(Buffer.concat(chunks).toString("latin1")));
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no end of answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
}

/** A GET/POST/... with `Host` and `Connection: close`, and the body (if any) with its length. */
export function rawExchange(
  url: string,
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<RawAnswer | undefined> {
  const { host } = new URL(url);
  const lines = [`${method} ${target} HTTP/1.1`, `Host: ${host}`, "Connection: close"];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return rawRequest(url, `${lines.join("\r\n")}\r\n\r\n${body ?? ""}`);
}

function parseAnswer(text: string): RawAnswer | undefined {
  if (text.length === 0) return undefined;
  const split = text.indexOf("\r\n\r\n");
  const head = split < 0 ? text : text.slice(0, split);
  let body = split < 0 ? "" : text.slice(split + 4);
  const [statusLine = "", ...headerLines] = head.split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? Number.NaN);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon > 0)
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  if (headers["transfer-encoding"]?.toLowerCase() === "chunked") body = unchunk(body);
  return { status, headers, body: Buffer.from(body, "latin1").toString("utf8"), raw: text };
}

function unchunk(text: string): string {
  let out = "";
  let at = 0;
  for (;;) {
    const end = text.indexOf("\r\n", at);
    if (end < 0) return out;
    const size = Number.parseInt(text.slice(at, end), 16);
    if (!Number.isFinite(size) || size === 0) return out;
    out += text.slice(end + 2, end + 2 + size);
    at = end + 2 + size + 2;
  }
}
