/**
 * The files group: list, get, download and delete, and the resumable upload under
 * `/upload/v1beta/files` (start, then chunks sent to the session URL).
 *
 * @module
 */

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ListFilesResponse } from "gembed";
import type { LocalServer } from "../local-server.js";
import { baseUrl, type SelfAddress } from "../security.js";
import { invalidArgument, notFound } from "../status.js";
import { pageOf, splitVerb } from "./common.js";

/** Registers the files routes and the upload. */
export function registerFileRoutes(
  app: FastifyInstance,
  server: LocalServer,
  self: SelfAddress,
): void {
  const { options, files } = server;

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
