/**
 * Health and metrics: `/health`, Prometheus `/metrics`, and what every request leaves behind
 * (its endpoint name, counters, latency, one log line).
 *
 * @module
 */

import type { FastifyInstance, FastifyRequest } from "fastify";
import type { LocalServer } from "../local-server.js";
import { redactUrl } from "../security.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The endpoint name, for stats and metrics. */
    endpoint: string;
  }
}

/** Registers `/health` and `/metrics`. */
export function registerHealthRoutes(app: FastifyInstance, server: LocalServer): void {
  app.get("/health", async (request) => {
    request.endpoint = "health";
    return { status: "ok" };
  });

  app.get("/metrics", async (request, reply) => {
    request.endpoint = "metrics";
    reply.type(server.metrics.registry.contentType);
    return server.metrics.registry.metrics();
  });
}

/**
 * Names each request's endpoint and times it as it arrives (before any check, so a refused
 * request is counted too); counts, measures and logs it (one line, no key) once answered.
 */
export function observeRequests(app: FastifyInstance, server: LocalServer): void {
  app.decorateRequest("endpoint", "");
  app.addHook("onRequest", async (request) => {
    (request as FastifyRequest & { startedAt: bigint }).startedAt = process.hrtime.bigint();
    request.endpoint = endpointOf(request.method, request.routeOptions.url, request.url);
  });

  app.addHook("onResponse", async (request, reply) => {
    const endpoint = request.endpoint || "unknown";
    server.counters.requests++;
    server.counters.byEndpoint[endpoint] = (server.counters.byEndpoint[endpoint] ?? 0) + 1;
    server.metrics.requests.inc({ endpoint, code: String(reply.statusCode) });
    const startedAt = (request as FastifyRequest & { startedAt?: bigint }).startedAt;
    const seconds = startedAt === undefined ? 0 : Number(process.hrtime.bigint() - startedAt) / 1e9;
    if (startedAt !== undefined) server.metrics.latency.observe({ endpoint }, seconds);
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
}

/**
 * The endpoint name of a request, for stats, metrics and the log line: from the route the router
 * chose (and the verb of its last segment), so a percent-encoded path counts where it went.
 */
export function endpointOf(method: string, route: string | undefined, url: string): string {
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
