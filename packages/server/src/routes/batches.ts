/**
 * The batches group: list, get, cancel, update and delete of batch jobs (created by
 * `asyncBatchEmbedContent` in `models.ts`).
 *
 * @module
 */

import type { FastifyInstance } from "fastify";
import type { LocalServer } from "../local-server.js";
import { notFound } from "../status.js";
import { pageOf, pageToken, splitVerb } from "./common.js";

/** Registers the batches routes. */
export function registerBatchRoutes(app: FastifyInstance, server: LocalServer): void {
  const { options, jobs } = server;

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
}
