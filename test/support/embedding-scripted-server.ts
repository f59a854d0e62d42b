/**
 * A small scripted Gemini server on 127.0.0.1:0 for the embedding function's wire tests: it
 * records every `batchEmbedContents` body and answers through a script, so a test can stage a
 * 429 with `retryDelay`, a short answer or a per-day quota exactly when it wants.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { EmbedContentRequest } from "gembed";

/** A deterministic vector for a text: not normalized, so tests see normalization happen. */
export function scriptedValues(text: string, dimension: number): number[] {
  let hash = 2166136261;
  for (let index = 0; index < text.length; index++) {
    hash = Math.imul(hash ^ text.charCodeAt(index), 16777619) >>> 0;
  }
  const values = new Array<number>(dimension);
  for (let index = 0; index < dimension; index++) {
    hash = Math.imul(hash ^ index, 16777619) >>> 0;
    values[index] = ((hash % 2000) - 1000) / 1000;
  }
  return values;
}

/** One recorded call. */
export interface RecordedCall {
  path: string;
  requests: EmbedContentRequest[];
  bytes: number;
  time: number;
  headers: Record<string, string | string[] | undefined>;
}

/** What the script may answer instead of the default embeddings. */
export type ScriptAnswer =
  | { status: number; body: unknown }
  | { embeddings: { values: number[] }[] }
  | { drop: true }
  | undefined;

export interface ScriptedServer {
  url: string;
  calls: RecordedCall[];
  /** The most calls that were in flight at once. */
  maxInFlight(): number;
  close(): Promise<void>;
}

/** Default answer: one scripted vector per request, `outputDimensionality` or 3072 long. */
export function defaultEmbeddings(requests: EmbedContentRequest[]): { values: number[] }[] {
  return requests.map((request) => ({
    values: scriptedValues(
      request.content.parts[0]?.text ?? "",
      request.outputDimensionality ?? 3072,
    ),
  }));
}

export async function startScriptedServer(
  script: (call: RecordedCall, index: number) => ScriptAnswer | Promise<ScriptAnswer> = () =>
    undefined,
  options: { latencyMs?: (call: RecordedCall) => number } = {},
): Promise<ScriptedServer> {
  const calls: RecordedCall[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    response.on("close", () => {
      inFlight--;
    });
    const parts: Buffer[] = [];
    request.on("data", (part: Buffer) => parts.push(part));
    request.on("end", async () => {
      const raw = Buffer.concat(parts);
      const path = request.url ?? "";
      let body: { requests?: EmbedContentRequest[] } & EmbedContentRequest;
      try {
        body = JSON.parse(raw.toString("utf8") || "{}");
      } catch {
        response.writeHead(400).end();
        return;
      }
      const isBatch = path.includes(":batchEmbedContents");
      const call: RecordedCall = {
        path,
        requests: isBatch ? (body.requests ?? []) : [body],
        bytes: raw.length,
        time: Date.now(),
        headers: request.headers,
      };
      const index = calls.push(call) - 1;
      const latency = options.latencyMs?.(call) ?? 0;
      if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency));
      const answer = await script(call, index);
      if (answer && "drop" in answer) {
        request.socket.destroy();
        return;
      }
      response.setHeader("content-type", "application/json");
      if (answer && "status" in answer) {
        response.writeHead(answer.status).end(JSON.stringify(answer.body));
        return;
      }
      const embeddings = answer?.embeddings ?? defaultEmbeddings(call.requests);
      const payload = isBatch ? { embeddings } : { embedding: embeddings[0] };
      response.writeHead(200).end(JSON.stringify(payload));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    maxInFlight: () => maxInFlight,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A 429 body as Gemini sends it (no Retry-After header; the wait is in RetryInfo). */
export function rateLimitBody(
  retryDelay: string,
  quotaId = "EmbedContentRequestsPerMinutePerUserPerProjectPerModel",
): unknown {
  return {
    error: {
      code: 429,
      message: "You exceeded your current quota.",
      status: "RESOURCE_EXHAUSTED",
      details: [
        { "@type": "type.googleapis.com/google.rpc.QuotaFailure", violations: [{ quotaId }] },
        { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay },
      ],
    },
  };
}
