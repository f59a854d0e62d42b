/**
 * The models group: list and get, and the three embedding calls on `/v1beta/models/{model}:verb`
 * (`embedContent`, `batchEmbedContents`, `asyncBatchEmbedContent`).
 *
 * @module
 */

import type { FastifyInstance } from "fastify";
import type { Model } from "gembed";
import { MODELS, type ModelInfo } from "gembed";
import { embedQuantized } from "../local-model.js";
import type { LocalServer } from "../local-server.js";
import {
  batchRequestError,
  type CheckedRequest,
  checkRequest,
  resolveModel,
  singleRequestError,
  type Violation,
} from "../requests.js";
import { invalidArgument, notFound } from "../status.js";
import { buildJson, embeddingsJson } from "../wire.js";
import { splitVerb } from "./common.js";

const MAX_BATCH_REQUESTS = 100;

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

/** Registers the models routes. */
export function registerModelRoutes(app: FastifyInstance, server: LocalServer): void {
  const { options, files, jobs } = server;

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
}
