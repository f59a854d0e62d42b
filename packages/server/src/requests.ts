/**
 * Reading and checking embedding requests the way the real API does: camelCase and snake_case
 * keys, the `embedContentConfig` wrapper, every validation error with the real message.
 *
 * @module
 */

import { getModelInfo, type ModelInfo, TASK_TYPES, type TaskType } from "gembed";
import { isObject, modelId, retiredReplacement } from "gembed/internal";
import { fitInput } from "./local-model.js";
import { checkContentParts, type MediaFiles } from "./media.js";
import { invalidArgument, notFound, type ServerApiError } from "./status.js";

/** An embedding request, checked and ready for the local model. */
export interface CheckedRequest {
  model: ModelInfo;
  /** The text as embedded (cut to the model's input limit). */
  text: string;
  /** Estimated tokens of the text (capped at the input limit). */
  tokens: number;
  taskType: TaskType | undefined;
  title: string | undefined;
  dimension: number;
}

/** One problem of a request: the field path and what is wrong. */
export interface Violation {
  field: string;
  description: string;
}

const TASK_TYPE_SET: ReadonlySet<string> = new Set(TASK_TYPES);

const REQUEST_KEYS = new Set([
  "model",
  "content",
  "taskType",
  "task_type",
  "title",
  "outputDimensionality",
  "output_dimensionality",
  "embedContentConfig",
  "embed_content_config",
]);
const CONFIG_KEYS = new Set([
  "taskType",
  "task_type",
  "title",
  "outputDimensionality",
  "output_dimensionality",
]);

/** The model of a URL or request, or the real 404 for an unknown or retired one. */
export function resolveModel(name: string, method = "embedContent"): ModelInfo {
  const model = getModelInfo(name);
  if (model === undefined || retiredReplacement(name) !== undefined) {
    throw notFound(
      `models/${modelId(name)} is not found for API version v1beta, or is not supported for ${method}. Call ListModels to see the list of available models and their supported methods.`,
    );
  }
  return model;
}

/**
 * The value of a field sent as `camel` or `snake` (the API takes both spellings). Both spellings
 * with different values are a 400 rather than one silently winning.
 */
function pick(object: Record<string, unknown>, camel: string, snake: string, at: string): unknown {
  const camelValue = object[camel];
  const snakeValue = object[snake];
  if (camelValue === undefined || camelValue === null) return snakeValue;
  if (
    snakeValue !== undefined &&
    snakeValue !== null &&
    JSON.stringify(snakeValue) !== JSON.stringify(camelValue)
  ) {
    throw invalidArgument(
      `Invalid JSON payload received. '${at}${camel}' and '${at}${snake}' are the same field and have different values.`,
      [{ field: `${at}${snake}`, description: `conflicts with ${at}${camel}` }],
    );
  }
  return camelValue;
}

/**
 * Checks one request. Problems are pushed to `violations` (with `path` as the field prefix, e.g.
 * `requests[3]`); the checked request is returned when there are none.
 */
export function checkRequest(
  raw: unknown,
  urlModel: ModelInfo,
  path: string,
  violations: Violation[],
  files?: MediaFiles,
): CheckedRequest | undefined {
  const prefix = path === "" ? "" : `${path}.`;
  const start = violations.length;
  if (!isObject(raw)) {
    violations.push({ field: path || "request", description: "must be an object" });
    return undefined;
  }
  for (const key of Object.keys(raw)) {
    if (!REQUEST_KEYS.has(key)) {
      throw invalidArgument(
        `Invalid JSON payload received. Unknown name "${key}"${path ? ` at '${path}'` : ""}: Cannot find field.`,
        [
          {
            field: path,
            description: `Invalid JSON payload received. Unknown name "${key}"${path ? ` at '${path}'` : ""}: Cannot find field.`,
          },
        ],
      );
    }
  }
  const configRaw = pick(raw, "embedContentConfig", "embed_content_config", prefix);
  if (configRaw !== undefined && configRaw !== null && !isObject(configRaw)) {
    throw invalidArgument(
      `Invalid value at '${prefix}embed_content_config' (type.googleapis.com/google.ai.generativelanguage.v1beta.EmbedContentConfig), ${JSON.stringify(configRaw).slice(0, 100)}`,
      [{ field: `${prefix}embed_content_config`, description: "must be an object" }],
    );
  }
  const config = isObject(configRaw) ? configRaw : {};
  for (const key of Object.keys(config)) {
    if (!CONFIG_KEYS.has(key)) {
      throw invalidArgument(
        `Invalid JSON payload received. Unknown name "${key}" at '${prefix}embed_content_config': Cannot find field.`,
      );
    }
  }
  const field = (camel: string, snake: string) => {
    const direct = pick(raw, camel, snake, prefix);
    const nested = pick(config, camel, snake, `${prefix}embed_content_config.`);
    if (direct === undefined || direct === null) return nested;
    if (
      nested !== undefined &&
      nested !== null &&
      JSON.stringify(nested) !== JSON.stringify(direct)
    ) {
      throw invalidArgument(
        `Invalid JSON payload received. '${prefix}${snake}' and '${prefix}embed_content_config.${snake}' have different values.`,
        [{ field: `${prefix}${snake}`, description: "conflicts with embed_content_config" }],
      );
    }
    return direct;
  };

  if (raw.model !== undefined) {
    if (typeof raw.model !== "string") {
      violations.push({ field: `${prefix}model`, description: "must be a string" });
    } else if (modelId(raw.model) !== urlModel.id) {
      violations.push({
        field: `${prefix}model`,
        description: `model "${raw.model}" does not match the model of the URL, "models/${urlModel.id}".`,
      });
    }
  }

  const content = raw.content;
  let text = "";
  // Media parts (gemini-embedding-2): one word per part from its bytes, and their tokens.
  let mediaWords = "";
  let mediaTokens = 0;
  if (!isObject(content) || !Array.isArray(content.parts)) {
    violations.push({ field: `${prefix}content`, description: "content is required." });
  } else if (content.parts.length === 0) {
    violations.push({ field: `${prefix}content`, description: "contains an empty Part." });
  } else {
    const parts = checkContentParts(content.parts, urlModel, prefix, violations, files);
    if (parts !== undefined) {
      text = parts.text;
      mediaWords = parts.mediaWords;
      mediaTokens = parts.mediaTokens;
    }
  }

  let taskType: TaskType | undefined;
  const taskTypeRaw = field("taskType", "task_type");
  if (taskTypeRaw !== undefined && taskTypeRaw !== null) {
    if (typeof taskTypeRaw !== "string" || !TASK_TYPE_SET.has(taskTypeRaw)) {
      throw invalidArgument(
        `Invalid value at '${prefix}task_type' (type.googleapis.com/google.ai.generativelanguage.v1beta.TaskType), ${JSON.stringify(taskTypeRaw)}`,
        [
          {
            field: `${prefix}task_type`,
            description: `Invalid value at '${prefix}task_type' (type.googleapis.com/google.ai.generativelanguage.v1beta.TaskType), ${JSON.stringify(taskTypeRaw)}`,
          },
        ],
      );
    }
    taskType = taskTypeRaw as TaskType;
    if (!urlModel.supportsTaskType && taskType !== "TASK_TYPE_UNSPECIFIED") {
      violations.push({
        field: `${prefix}task_type`,
        description: `task_type is not supported by models/${urlModel.id}; put the task in the text instead.`,
      });
    }
  }

  let title: string | undefined;
  const titleRaw = field("title", "title");
  if (titleRaw !== undefined && titleRaw !== null) {
    if (typeof titleRaw !== "string") {
      violations.push({ field: `${prefix}title`, description: "must be a string" });
    } else if (titleRaw.length > 0) {
      if (taskType !== "RETRIEVAL_DOCUMENT") {
        violations.push({
          field: `${prefix}title`,
          description: "title is only supported when task_type is RETRIEVAL_DOCUMENT.",
        });
      }
      title = titleRaw;
    }
  }

  let dimension = urlModel.defaultDimension;
  const dimensionRaw = field("outputDimensionality", "output_dimensionality");
  if (dimensionRaw !== undefined && dimensionRaw !== null) {
    const value =
      typeof dimensionRaw === "string" && /^-?\d+$/.test(dimensionRaw)
        ? Number(dimensionRaw)
        : dimensionRaw;
    if (typeof value !== "number" || !Number.isInteger(value)) {
      throw invalidArgument(
        `Invalid value at '${prefix}output_dimensionality' (TYPE_INT32), ${JSON.stringify(dimensionRaw)}`,
      );
    }
    if (!urlModel.supportsOutputDimensionality) {
      violations.push({
        field: `${prefix}output_dimensionality`,
        description: `output_dimensionality is not supported by models/${urlModel.id}.`,
      });
    } else if (value < urlModel.minDimension || value > urlModel.maxDimension) {
      violations.push({
        field: `${prefix}output_dimensionality`,
        description: `output_dimensionality must be between ${urlModel.minDimension} and ${urlModel.maxDimension}, got ${value}.`,
      });
    } else {
      dimension = value;
    }
  }

  if (violations.length > start) return undefined;
  const fitted = fitInput(text, urlModel);
  return {
    model: urlModel,
    text: fitted.text + mediaWords,
    tokens: fitted.tokens + mediaTokens,
    taskType,
    title,
    dimension,
  };
}

/** The message of a list of violations, like the real API: one `* field: description` a line. */
function violationsMessage(violations: Violation[]): string {
  return violations.map((violation) => `* ${violation.field}: ${violation.description}`).join("\n");
}

/** The error of a checked `embedContent` body that has violations. */
export function singleRequestError(violations: Violation[]): ServerApiError {
  const first = violations[0];
  if (violations.length === 1 && first !== undefined && first.field === "content") {
    if (first.description === "contains an empty Part.") {
      return invalidArgument("EmbedContentRequest.content contains an empty Part.", [
        { field: "content", description: first.description },
      ]);
    }
  }
  return invalidArgument(
    violationsMessage(
      violations.map((violation) => ({
        field: `EmbedContentRequest.${violation.field}`,
        description: violation.description,
      })),
    ),
    violations,
  );
}

/** The error of a `batchEmbedContents` body that has violations. */
export function batchRequestError(violations: Violation[]): ServerApiError {
  return invalidArgument(
    violationsMessage(
      violations.map((violation) => ({
        field: `BatchEmbedContentsRequest.${violation.field}`,
        description: violation.description,
      })),
    ),
    violations,
  );
}

/** The `Status` of one failed item of a batch job. */
export function itemError(violations: Violation[]): ServerApiError {
  return invalidArgument(
    violationsMessage(
      violations.map((violation) => ({
        field: `EmbedContentRequest${violation.field ? `.${violation.field}` : ""}`,
        description: violation.description,
      })),
    ),
  );
}
