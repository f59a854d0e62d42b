/**
 * `GeminiClient`: one method per endpoint of the Gemini embeddings REST API (`v1beta`), with the
 * API's own wire types, typed errors, retries that honour `RetryInfo`, and a resumable upload
 * that streams. The embedding calls are here; the other groups of endpoints are one file each
 * under `./resources/` (`batches`, `files`, `models`).
 *
 * @module
 */

import type {
  BatchEmbedContentsResponse,
  EmbedContentBatch,
  EmbedContentRequest,
  EmbedContentResponse,
  Operation,
} from "../api/types.js";
import { InvalidResponseError } from "../errors.js";
import { environmentVariable } from "../util/environment.js";
import { isObject } from "../util/objects.js";
import {
  checkApiKey,
  checkNamed,
  checkRequest,
  describeShape,
  modelPath,
  nonEmpty,
  nonNegativeNumber,
  optionalHeaders,
  optionalString,
  positiveNumber,
  retryCount,
} from "./checks.js";
import { type RequestOptions, type RetryEvent, Transport } from "./http.js";
import { Requester } from "./requester.js";
import { type BatchesApi, batchesApi } from "./resources/batches.js";
import { type FilesApi, filesApi } from "./resources/files.js";
import { type ModelsApi, modelsApi } from "./resources/models.js";
import { DEFAULT_MAX_RETRY_DELAY } from "./retry.js";

export type { RequestOptions, RetryEvent } from "./http.js";
export type { ListParams } from "./requester.js";
export type { BatchesApi } from "./resources/batches.js";
export type { FilesApi } from "./resources/files.js";
export type { ModelsApi } from "./resources/models.js";
export type { UploadParams, UploadSource } from "./upload.js";

/** `util.inspect`'s hook, by its registered name, so the core needs no `node:util`. */
const inspectCustom = Symbol.for("nodejs.util.inspect.custom");

/** The official host. */
export const DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com";

/** Options of {@link GeminiClient}. */
export interface GeminiClientOptions {
  /**
   * The API key, sent only in the `x-goog-api-key` header. An empty string counts as not given;
   * surrounding whitespace is dropped; any other character that is not visible ASCII is a
   * `TypeError` (whose message does not show the key).
   * @default process.env.GOOGLE_API_KEY, else process.env.GEMINI_API_KEY (none: `MissingApiKeyError` at the first call)
   */
  apiKey?: string | undefined;
  /**
   * The API host (a path prefix is kept). A version at its end (`.../v1beta`) is taken off, since
   * `apiVersion` is added to every path.
   * @default process.env.GOOGLE_GEMINI_BASE_URL, else "https://generativelanguage.googleapis.com"
   */
  baseUrl?: string | undefined;
  /**
   * The API version in paths.
   * @default "v1beta"
   */
  apiVersion?: string | undefined;
  /**
   * Time limit of one attempt in ms.
   * @default 60_000
   */
  timeout?: number | undefined;
  /**
   * Retries after the first attempt (on 408, 429, 500, 502, 503, 504, connection failures and
   * timeouts); 0 disables the client's own retries.
   * @default 3
   */
  maxRetries?: number | undefined;
  /**
   * The cap of one retry wait in ms. When the server asks for a longer wait (`RetryInfo`), the
   * error is thrown at once instead (it carries `retryDelayMs`).
   * @default 60_000
   */
  maxRetryDelay?: number | undefined;
  /**
   * Extra headers sent with every request.
   * @default {}
   */
  headers?: Record<string, string> | undefined;
  /**
   * The `fetch` to use. A JSON body reaches it as UTF-8 bytes (a `Uint8Array`), as a file
   * upload's does; `new TextDecoder().decode(init.body)` reads it.
   * @default globalThis.fetch
   */
  fetch?: typeof fetch | undefined;
  /**
   * Called before each retry wait (for logs and progress; it never sees the key).
   * @default undefined
   */
  onRetry?: ((event: RetryEvent) => void) | undefined;
}

/**
 * A client of the Gemini embeddings REST API.
 *
 * @example
 * ```ts
 * const client = new GeminiClient(); // key from GOOGLE_API_KEY or GEMINI_API_KEY
 * const { embedding } = await client.embedContent("gemini-embedding-001", {
 *   content: { parts: [{ text: "Hello world" }] },
 *   taskType: "RETRIEVAL_QUERY",
 * });
 * ```
 */
export class GeminiClient {
  readonly #transport: Transport;
  readonly #requester: Requester;
  /** The base URL, without a trailing slash. */
  readonly baseUrl: string;
  /** The API version in paths. */
  readonly apiVersion: string;
  /** The batch jobs API. */
  readonly batches: BatchesApi;
  /** The files API. */
  readonly files: FilesApi;
  /** The models API. */
  readonly models: ModelsApi;
  /**
   * Where the API key came from: `"GOOGLE_API_KEY"`, `"GEMINI_API_KEY"`, `"the apiKey option"` or
   * `"the x-goog-api-key header"`; undefined when there is none. Never the key itself.
   */
  readonly apiKeySource: string | undefined;

  constructor(options: GeminiClientOptions = {}) {
    if (options === null || typeof options !== "object") {
      throw new TypeError("GeminiClient options must be an object");
    }
    const headers = optionalHeaders(options.headers);
    let apiKey = nonEmpty(optionalString(options.apiKey, "apiKey"));
    let keySource = "the apiKey option";
    // A key given as a header is treated like the option, so it is kept out of inspect output too.
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase() === "x-goog-api-key") {
        if (apiKey === undefined && nonEmpty(headers[name]) !== undefined) {
          apiKey = headers[name];
          keySource = "the x-goog-api-key header";
        }
        delete headers[name];
      }
    }
    if (apiKey === undefined) {
      for (const variable of ["GOOGLE_API_KEY", "GEMINI_API_KEY"] as const) {
        apiKey = nonEmpty(environmentVariable(variable));
        keySource = variable;
        if (apiKey !== undefined) break;
      }
    }
    if (apiKey !== undefined) apiKey = checkApiKey(apiKey, keySource);
    const baseUrl =
      optionalString(options.baseUrl, "baseUrl") ??
      nonEmpty(environmentVariable("GOOGLE_GEMINI_BASE_URL")) ??
      DEFAULT_BASE_URL;
    let parsed: URL;
    try {
      parsed = new URL(baseUrl);
    } catch {
      throw new TypeError("baseUrl must be an absolute http(s) URL");
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new TypeError("baseUrl must be an absolute http(s) URL");
    }
    this.apiVersion = optionalString(options.apiVersion, "apiVersion") ?? "v1beta";
    if (!/^[A-Za-z0-9._-]+$/.test(this.apiVersion)) {
      throw new RangeError(`apiVersion must look like "v1beta", got "${this.apiVersion}"`);
    }
    // A base URL copied with the version at its end (`http://127.0.0.1:8080/v1beta`) means the
    // same host: the version is added to every path, so it is taken off here.
    const trimmed = baseUrl.replace(/\/+$/, "");
    const versionSuffix = `/${this.apiVersion}`;
    this.baseUrl = trimmed.endsWith(versionSuffix)
      ? trimmed.slice(0, -versionSuffix.length)
      : trimmed;
    const fetchFunction = options.fetch ?? globalThis.fetch;
    if (typeof fetchFunction !== "function") throw new TypeError("fetch must be a function");
    if (options.onRetry !== undefined && typeof options.onRetry !== "function") {
      throw new TypeError("onRetry must be a function");
    }
    this.#transport = new Transport({
      apiKey,
      timeout: positiveNumber(options.timeout, "timeout", 60_000),
      maxRetries: retryCount(options.maxRetries, "maxRetries", 3),
      maxRetryDelay: nonNegativeNumber(
        options.maxRetryDelay,
        "maxRetryDelay",
        DEFAULT_MAX_RETRY_DELAY,
      ),
      headers,
      fetch: fetchFunction,
      onRetry: options.onRetry,
      keySource: apiKey === undefined ? undefined : keySource,
    });
    this.apiKeySource = apiKey === undefined ? undefined : keySource;

    this.#requester = new Requester(this.#transport, this.baseUrl, this.apiVersion);
    this.batches = batchesApi(this.#requester);
    this.files = filesApi(this.#requester);
    this.models = modelsApi(this.#requester);
  }

  /**
   * Embeds one content (`POST /v1beta/models/{model}:embedContent`). `request.model` defaults to
   * the model of the URL.
   *
   * @example
   * ```ts
   * const { embedding } = await client.embedContent("gemini-embedding-001", {
   *   content: { parts: [{ text: "Hello world" }] },
   *   outputDimensionality: 768,
   * });
   * ```
   */
  async embedContent(
    model: string,
    request: EmbedContentRequest,
    options?: RequestOptions,
  ): Promise<EmbedContentResponse> {
    const resource = modelPath(model, "model");
    checkRequest(request, "request");
    const operation = `POST ${resource}:embedContent`;
    const body = await this.#requester.json<EmbedContentResponse>(
      {
        method: "POST",
        url: this.#requester.url(`${resource}:embedContent`),
        operation,
        json: { ...request, model: request.model ?? resource },
      },
      options,
    );
    if (!isObject(body) || !isObject(body.embedding) || !Array.isArray(body.embedding.values)) {
      throw new InvalidResponseError(
        `${operation}: the answer has no embedding.values array (got ${describeShape(body)}).`,
      );
    }
    return body;
  }

  /**
   * Embeds up to 100 contents in one call (`POST /v1beta/models/{model}:batchEmbedContents`),
   * in input order. Each request's `model` defaults to the model of the URL. Throws
   * `InvalidResponseError` when the answer does not hold exactly one embedding per request.
   *
   * @example
   * ```ts
   * const { embeddings } = await client.batchEmbedContents("gemini-embedding-001", [
   *   { content: { parts: [{ text: "a" }] }, taskType: "RETRIEVAL_DOCUMENT" },
   *   { content: { parts: [{ text: "b" }] }, taskType: "RETRIEVAL_DOCUMENT" },
   * ]);
   * ```
   */
  async batchEmbedContents(
    model: string,
    requests: EmbedContentRequest[],
    options?: RequestOptions,
  ): Promise<BatchEmbedContentsResponse> {
    const resource = modelPath(model, "model");
    if (!Array.isArray(requests)) throw new TypeError("requests must be an array");
    if (requests.length === 0) throw new RangeError("requests must not be empty");
    requests.forEach((request, index) => {
      checkRequest(request, `requests[${index}]`);
    });
    const operation = `POST ${resource}:batchEmbedContents`;
    const body = await this.#requester.json<BatchEmbedContentsResponse>(
      {
        method: "POST",
        url: this.#requester.url(`${resource}:batchEmbedContents`),
        operation,
        json: {
          requests: requests.map((request) => ({ ...request, model: request.model ?? resource })),
        },
      },
      options,
    );
    const embeddings = isObject(body) ? body.embeddings : undefined;
    if (!Array.isArray(embeddings)) {
      throw new InvalidResponseError(
        `${operation}: the answer has no embeddings array (got ${describeShape(body)}); ${requests.length} were requested.`,
      );
    }
    if (embeddings.length !== requests.length) {
      throw new InvalidResponseError(
        `${operation}: the answer holds ${embeddings.length} embeddings for ${requests.length} requests.`,
      );
    }
    for (let index = 0; index < embeddings.length; index++) {
      const embedding = embeddings[index];
      if (!isObject(embedding) || !Array.isArray(embedding.values)) {
        throw new InvalidResponseError(
          `${operation}: embeddings[${index}] has no values array (${embeddings.length} embeddings, ${requests.length} requests).`,
        );
      }
    }
    return body;
  }

  /**
   * Creates a batch job (`POST /v1beta/models/{model}:asyncBatchEmbedContent`): the Batch API, at
   * half the price, with a target turnaround of 24 h. `batch.model` defaults to the model of the
   * URL. Creation is not idempotent, so only failures where the server surely did nothing (429,
   * 503, a refused connection) are retried.
   *
   * @example
   * ```ts
   * const operation = await client.asyncBatchEmbedContent("gemini-embedding-001", {
   *   displayName: "docs",
   *   inputConfig: { fileName: file.name },
   * });
   * ```
   */
  async asyncBatchEmbedContent(
    model: string,
    batch: Omit<EmbedContentBatch, "model"> & { model?: string },
    options?: RequestOptions,
  ): Promise<Operation> {
    const resource = modelPath(model, "model");
    if (!isObject(batch)) throw new TypeError("batch must be an object");
    if (typeof batch.displayName !== "string") {
      throw new TypeError("batch.displayName must be a string");
    }
    if (!isObject(batch.inputConfig)) throw new TypeError("batch.inputConfig must be an object");
    const operation = `POST ${resource}:asyncBatchEmbedContent`;
    const body = await this.#requester.json<Operation>(
      {
        method: "POST",
        url: this.#requester.url(`${resource}:asyncBatchEmbedContent`),
        operation,
        json: { batch: { ...batch, model: batch.model ?? resource } },
        retry: "safe",
      },
      options,
    );
    return checkNamed(body, operation, "an Operation");
  }

  /** A summary without secrets, for `util.inspect` and `console.log`. */
  [inspectCustom](): Record<string, unknown> {
    return this.toJSON();
  }

  /** A summary without secrets. */
  toJSON(): Record<string, unknown> {
    const { timeout, maxRetries, maxRetryDelay, headers } = this.#transport.settings;
    return {
      baseUrl: this.baseUrl,
      apiVersion: this.apiVersion,
      apiKey: this.#transport.hasApiKey ? "[redacted]" : "[not set]",
      timeout,
      maxRetries,
      maxRetryDelay,
      headers: Object.keys(headers),
    };
  }
}
