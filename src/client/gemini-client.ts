/**
 * `GeminiClient`: one method per endpoint of the Gemini embeddings REST API (`v1beta`), with the
 * API's own wire types, typed errors, retries that honour `RetryInfo`, and a resumable upload
 * that streams.
 *
 * @module
 */

import type { Readable } from "node:stream";
import { inspect } from "node:util";
import type {
  BatchEmbedContentsResponse,
  EmbedContentBatch,
  EmbedContentRequest,
  EmbedContentResponse,
  File,
  ListFilesResponse,
  ListModelsResponse,
  ListOperationsResponse,
  Model,
  Operation,
} from "../api/types.js";
import { InvalidResponseError, UploadResumeError } from "../errors.js";
import { modelResourceName } from "../models.js";
import { checkNumber } from "../util/checks.js";
import { isObject } from "../util/objects.js";
import { excerpt, type RequestOptions, type RetryEvent, Transport } from "./http.js";
import {
  DEFAULT_BASE_DELAY,
  DEFAULT_MAX_RETRY_DELAY,
  isRetryableError,
  retryDelayMs,
  serverRequestedDelayMs,
  sleep,
} from "./retry.js";
import {
  chunkPieces,
  DEFAULT_CHUNK_SIZE,
  openSource,
  type UploadChunk,
  type UploadSource,
} from "./upload.js";

export type { RequestOptions, RetryEvent } from "./http.js";
export type { UploadSource } from "./upload.js";

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
   * The `fetch` to use.
   * @default globalThis.fetch
   */
  fetch?: typeof fetch | undefined;
  /**
   * Called before each retry wait (for logs and progress; it never sees the key).
   * @default undefined
   */
  onRetry?: ((event: RetryEvent) => void) | undefined;
}

/** Paging parameters of the list methods. */
export interface ListParams {
  /** Items per page (the server caps it). @default the server's default */
  pageSize?: number;
  /** The `nextPageToken` of the previous page. @default undefined (first page) */
  pageToken?: string;
}

/** Parameters of {@link FilesApi.upload}. */
export interface UploadParams {
  /** The file's display name. @default undefined */
  displayName?: string;
  /**
   * The MIME type of the bytes.
   * @default from a path's extension (`.jsonl` → `application/jsonl`), else "application/jsonl" (the batch input format)
   */
  mimeType?: string;
  /** The size in bytes, for a stream (known for bytes and paths). @default undefined (not sent for a stream) */
  size?: number;
  /** Bytes per upload request. @default 8 MiB (8_388_608) */
  chunkSize?: number;
}

/** The batch jobs of the API (`/v1beta/batches`). */
export interface BatchesApi {
  /**
   * Gets a batch job (`batches/x` or `x`).
   * @example
   * ```ts
   * const operation = await client.batches.get("batches/abc");
   * console.log(operation.metadata?.state);
   * ```
   */
  get(name: string, options?: RequestOptions): Promise<Operation>;
  /** One page of batch jobs. */
  list(params?: ListParams, options?: RequestOptions): Promise<ListOperationsResponse>;
  /**
   * Every batch job, page after page.
   * @example
   * ```ts
   * for await (const operation of client.batches.listAll()) console.log(operation.name);
   * ```
   */
  listAll(
    params?: Omit<ListParams, "pageToken">,
    options?: RequestOptions,
  ): AsyncIterable<Operation>;
  /** Asks the server to cancel a batch job. */
  cancel(name: string, options?: RequestOptions): Promise<void>;
  /** Deletes a batch job (it does not cancel it). */
  delete(name: string, options?: RequestOptions): Promise<void>;
  /**
   * Updates fields of a batch job, e.g. `priority`, named by `updateMask` (comma-separated).
   * @example
   * ```ts
   * await client.batches.updateEmbedContentBatch("batches/abc", { priority: "5" }, "priority");
   * ```
   */
  updateEmbedContentBatch(
    name: string,
    batch: Partial<EmbedContentBatch>,
    updateMask: string,
    options?: RequestOptions,
  ): Promise<EmbedContentBatch>;
}

/** The files API (`/v1beta/files`, `/upload/v1beta/files`, `/download/v1beta/files`). */
export interface FilesApi {
  /**
   * Uploads with the resumable protocol, in `chunkSize` pieces: from bytes, a path (streamed) or
   * a stream, so a 2 GB file never sits in memory.
   *
   * A chunk that fails with a retryable error (a reset, a timeout, 5xx, 429) is not sent again
   * blindly: after the backoff wait the session is asked what it holds
   * (`X-Goog-Upload-Command: query`) and only the missing bytes are sent, up to `maxRetries`
   * times per chunk. When the server holds fewer bytes than the chunk in memory starts at,
   * bytes and a path are read again from its offset; a stream cannot be, and the upload fails
   * with `UploadResumeError`.
   * @example
   * ```ts
   * const file = await client.files.upload("input.jsonl", { displayName: "batch input" });
   * ```
   */
  upload(source: UploadSource, params?: UploadParams, options?: RequestOptions): Promise<File>;
  /** Gets a file's metadata (`files/x` or `x`). */
  get(name: string, options?: RequestOptions): Promise<File>;
  /** One page of files. */
  list(params?: ListParams, options?: RequestOptions): Promise<ListFilesResponse>;
  /** Every file, page after page. */
  listAll(params?: Omit<ListParams, "pageToken">, options?: RequestOptions): AsyncIterable<File>;
  /** Deletes a file. */
  delete(name: string, options?: RequestOptions): Promise<void>;
  /**
   * A file's bytes as a stream (e.g. a batch job's responses file). The `timeout` covers the wait
   * for the answer's headers; the `signal` also aborts the body. The stream fails with a
   * `GeminiConnectionError` when the connection drops mid-body and a `GembedAbortError` on the
   * caller's abort; destroying it cancels the body.
   * @example
   * ```ts
   * const stream = await client.files.download("files/batch-abc");
   * for await (const piece of stream) process.stdout.write(piece);
   * ```
   */
  download(name: string, options?: RequestOptions): Promise<Readable>;
}

/** The models API (`/v1beta/models`). */
export interface ModelsApi {
  /** Gets a model (`models/x` or `x`). */
  get(name: string, options?: RequestOptions): Promise<Model>;
  /** One page of models. */
  list(params?: ListParams, options?: RequestOptions): Promise<ListModelsResponse>;
  /** Every model, page after page. */
  listAll(params?: Omit<ListParams, "pageToken">, options?: RequestOptions): AsyncIterable<Model>;
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
        apiKey = nonEmpty(process.env[variable]);
        keySource = variable;
        if (apiKey !== undefined) break;
      }
    }
    if (apiKey !== undefined) apiKey = checkApiKey(apiKey, keySource);
    const baseUrl =
      optionalString(options.baseUrl, "baseUrl") ??
      nonEmpty(process.env.GOOGLE_GEMINI_BASE_URL) ??
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

    this.batches = {
      get: (name, requestOptions) => this.#getBatch(name, requestOptions),
      list: (params, requestOptions) =>
        this.#list<ListOperationsResponse>("batches", params, requestOptions),
      listAll: (params, requestOptions) =>
        this.#listAll<Operation, ListOperationsResponse>(
          "batches",
          (page) => page.operations,
          params,
          requestOptions,
        ),
      cancel: (name, requestOptions) => this.#cancelBatch(name, requestOptions),
      delete: (name, requestOptions) => this.#delete("batches", name, requestOptions),
      updateEmbedContentBatch: (name, batch, updateMask, requestOptions) =>
        this.#updateBatch(name, batch, updateMask, requestOptions),
    };
    this.files = {
      upload: (source, params, requestOptions) => this.#upload(source, params, requestOptions),
      get: (name, requestOptions) => this.#getFile(name, requestOptions),
      list: (params, requestOptions) =>
        this.#list<ListFilesResponse>("files", params, requestOptions),
      listAll: (params, requestOptions) =>
        this.#listAll<File, ListFilesResponse>(
          "files",
          (page) => page.files,
          params,
          requestOptions,
        ),
      delete: (name, requestOptions) => this.#delete("files", name, requestOptions),
      download: (name, requestOptions) => this.#download(name, requestOptions),
    };
    this.models = {
      get: (name, requestOptions) => this.#getModel(name, requestOptions),
      list: (params, requestOptions) =>
        this.#list<ListModelsResponse>("models", params, requestOptions),
      listAll: (params, requestOptions) =>
        this.#listAll<Model, ListModelsResponse>(
          "models",
          (page) => page.models,
          params,
          requestOptions,
        ),
    };
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
    const resource = modelResourceName(requiredName(model, "model"));
    checkRequest(request, "request");
    const operation = `POST ${resource}:embedContent`;
    const body = await this.#json<EmbedContentResponse>(
      {
        method: "POST",
        url: this.#url(`${resource}:embedContent`),
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
    const resource = modelResourceName(requiredName(model, "model"));
    if (!Array.isArray(requests)) throw new TypeError("requests must be an array");
    if (requests.length === 0) throw new RangeError("requests must not be empty");
    requests.forEach((request, index) => {
      checkRequest(request, `requests[${index}]`);
    });
    const operation = `POST ${resource}:batchEmbedContents`;
    const body = await this.#json<BatchEmbedContentsResponse>(
      {
        method: "POST",
        url: this.#url(`${resource}:batchEmbedContents`),
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
    const resource = modelResourceName(requiredName(model, "model"));
    if (!isObject(batch)) throw new TypeError("batch must be an object");
    if (typeof batch.displayName !== "string") {
      throw new TypeError("batch.displayName must be a string");
    }
    if (!isObject(batch.inputConfig)) throw new TypeError("batch.inputConfig must be an object");
    const operation = `POST ${resource}:asyncBatchEmbedContent`;
    const body = await this.#json<Operation>(
      {
        method: "POST",
        url: this.#url(`${resource}:asyncBatchEmbedContent`),
        operation,
        json: { batch: { ...batch, model: batch.model ?? resource } },
        retry: "safe",
      },
      options,
    );
    return checkNamed(body, operation, "an Operation");
  }

  /** A summary without secrets, for `util.inspect` and `console.log`. */
  [inspect.custom](): Record<string, unknown> {
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

  #url(path: string, query?: Record<string, string | number | undefined>, prefix = ""): string {
    const url = `${this.baseUrl}${prefix}/${this.apiVersion}/${path}`;
    if (!query) return url;
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) search.set(key, String(value));
    }
    const text = search.toString();
    return text ? `${url}?${text}` : url;
  }

  async #json<T>(
    call: Parameters<Transport["send"]>[0],
    options: RequestOptions | undefined,
  ): Promise<T> {
    const answer = await this.#transport.send(call, checkRequestOptions(options));
    return this.#parse<T>(answer.text, call.operation);
  }

  #parse<T>(text: string, operation: string): T {
    if (text.trim() === "") return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      // V8's SyntaxError quotes up to the whole body (a short echoed key included), so the cause
      // is a plain one; the message carries a redacted excerpt instead.
      throw new InvalidResponseError(
        `${operation}: the answer is not JSON: ${excerpt(this.#transport.redact(text))}`,
        { cause: new SyntaxError("The answer body is not valid JSON.") },
      );
    }
  }

  async #getBatch(name: string, options?: RequestOptions): Promise<Operation> {
    const path = resourcePath("batches", name);
    const operation = `GET ${path}`;
    const body = await this.#json<Operation>(
      { method: "GET", url: this.#url(path), operation },
      options,
    );
    return checkNamed(body, operation, "an Operation");
  }

  async #cancelBatch(name: string, options?: RequestOptions): Promise<void> {
    const path = `${resourcePath("batches", name)}:cancel`;
    await this.#json({ method: "POST", url: this.#url(path), operation: `POST ${path}` }, options);
  }

  async #updateBatch(
    name: string,
    batch: Partial<EmbedContentBatch>,
    updateMask: string,
    options?: RequestOptions,
  ): Promise<EmbedContentBatch> {
    if (!isObject(batch)) throw new TypeError("batch must be an object");
    if (typeof updateMask !== "string") throw new TypeError("updateMask must be a string");
    if (updateMask.trim() === "") throw new RangeError("updateMask must name at least one field");
    const path = `${resourcePath("batches", name)}:updateEmbedContentBatch`;
    const operation = `PATCH ${path}`;
    const body = await this.#json<EmbedContentBatch>(
      { method: "PATCH", url: this.#url(path, { updateMask }), operation, json: batch },
      options,
    );
    if (!isObject(body)) {
      throw new InvalidResponseError(`${operation}: expected an EmbedContentBatch object.`);
    }
    return body;
  }

  async #delete(
    collection: "batches" | "files",
    name: string,
    options?: RequestOptions,
  ): Promise<void> {
    const path = resourcePath(collection, name);
    // A retried DELETE that already succeeded would answer 404: retry only when nothing was done.
    await this.#json(
      { method: "DELETE", url: this.#url(path), operation: `DELETE ${path}`, retry: "safe" },
      options,
    );
  }

  async #list<T>(collection: string, params: ListParams | undefined, options?: RequestOptions) {
    const { pageSize, pageToken } = checkListParams(params);
    const operation = `GET ${collection}`;
    const body = await this.#json<T>(
      { method: "GET", url: this.#url(collection, { pageSize, pageToken }), operation },
      options,
    );
    if (!isObject(body)) throw new InvalidResponseError(`${operation}: expected a JSON object.`);
    return body;
  }

  async *#listAll<Item, Page extends { nextPageToken?: string }>(
    collection: string,
    items: (page: Page) => Item[] | undefined,
    params: Omit<ListParams, "pageToken"> | undefined,
    options?: RequestOptions,
  ): AsyncGenerator<Item> {
    const seen = new Set<string>();
    let pageToken: string | undefined;
    do {
      const page: Page = await this.#list<Page>(
        collection,
        { ...params, ...(pageToken === undefined ? {} : { pageToken }) },
        options,
      );
      const list = items(page) ?? [];
      if (!Array.isArray(list)) {
        throw new InvalidResponseError(`GET ${collection}: the page's list is not an array.`);
      }
      yield* list;
      pageToken = page.nextPageToken || undefined;
      if (pageToken !== undefined) {
        if (seen.has(pageToken)) {
          throw new InvalidResponseError(`GET ${collection}: the server repeated a page token.`);
        }
        seen.add(pageToken);
      }
    } while (pageToken !== undefined);
  }

  async #getFile(name: string, options?: RequestOptions): Promise<File> {
    const path = resourcePath("files", name);
    const operation = `GET ${path}`;
    const body = await this.#json<File>(
      { method: "GET", url: this.#url(path), operation },
      options,
    );
    return checkNamed(body, operation, "a File");
  }

  async #getModel(name: string, options?: RequestOptions): Promise<Model> {
    const path = resourcePath("models", name);
    const operation = `GET ${path}`;
    const body = await this.#json<Model>(
      { method: "GET", url: this.#url(path), operation },
      options,
    );
    return checkNamed(body, operation, "a Model");
  }

  async #download(name: string, options?: RequestOptions): Promise<Readable> {
    const path = `${resourcePath("files", name)}:download`;
    const call = {
      method: "GET" as const,
      url: this.#url(path, { alt: "media" }, "/download"),
      operation: `GET download/${path}`,
    };
    const requestOptions = checkRequestOptions(options);
    const response = await this.#transport.sendStreaming(call, requestOptions);
    return this.#transport.readable(response, call, requestOptions);
  }

  async #upload(
    source: UploadSource,
    params: UploadParams = {},
    options?: RequestOptions,
  ): Promise<File> {
    if (!isObject(params)) throw new TypeError("upload params must be an object");
    const displayName = optionalString(params.displayName, "displayName");
    const mimeTypeParam = optionalString(params.mimeType, "mimeType");
    const chunkSize = positiveInteger(params.chunkSize, "chunkSize", DEFAULT_CHUNK_SIZE);
    const sizeParam =
      params.size === undefined ? undefined : nonNegativeInteger(params.size, "size");
    const requestOptions = checkRequestOptions(options);
    const opened = await openSource(source);
    const size = sizeParam ?? opened.size;
    const mimeType = mimeTypeParam ?? opened.mimeType ?? "application/jsonl";

    const start = await this.#transport.send(
      {
        method: "POST",
        url: this.#url("files", undefined, "/upload"),
        operation: "POST upload/files (start)",
        headers: {
          "x-goog-upload-protocol": "resumable",
          "x-goog-upload-command": "start",
          ...(size === undefined ? {} : { "x-goog-upload-header-content-length": String(size) }),
          "x-goog-upload-header-content-type": mimeType,
        },
        json: { file: displayName === undefined ? {} : { displayName } },
      },
      requestOptions,
    );
    const uploadUrl = start.response.headers.get("x-goog-upload-url");
    if (!uploadUrl) {
      throw new InvalidResponseError(
        "POST upload/files (start): the answer has no x-goog-upload-url header.",
      );
    }
    let resolved: URL;
    try {
      resolved = new URL(uploadUrl, this.baseUrl);
    } catch {
      throw new InvalidResponseError("POST upload/files (start): the upload URL is not a URL.");
    }
    // The session URL authorizes the upload by itself; the key goes only to the API's own host.
    const sendKey = resolved.origin === new URL(this.baseUrl).origin;

    const session: UploadSession = {
      url: resolved.href,
      sendKey,
      reopen: opened.reopen,
      requestOptions,
      maxRetries: requestOptions.maxRetries ?? this.#transport.settings.maxRetries,
    };
    let chunks = chunkPieces(opened.pieces, chunkSize);
    let attemptsSpent = 0;
    try {
      for (;;) {
        const next = await chunks.next();
        if (next.done) throw new InvalidResponseError("upload ended without a last chunk");
        const chunk = next.value;
        const end = chunk.offset + chunk.bytes.byteLength;
        if (size !== undefined && (end > size || (chunk.last && end !== size))) {
          throw new RangeError(
            `upload size is ${size} bytes but the source gave ${chunk.last ? end : `more than ${end - 1}`}`,
          );
        }
        const outcome = await this.#sendChunk(session, chunk, attemptsSpent);
        attemptsSpent = 0;
        if (outcome.file !== undefined) return outcome.file;
        if (outcome.rewindTo !== undefined && session.reopen !== undefined) {
          // The server lost bytes before this chunk: read the source again from its offset.
          await chunks.return(undefined);
          chunks = chunkPieces(session.reopen(outcome.rewindTo), chunkSize, outcome.rewindTo);
          attemptsSpent = outcome.attemptsSpent;
        }
      }
    } finally {
      // Closes a path's file on any failure (and is a no-op once the chunks are done).
      await chunks.return(undefined);
    }
  }

  /**
   * Sends one chunk. After a retryable failure (a reset, a timeout, 5xx, 429) it waits (the usual
   * backoff), asks the session how many bytes it holds (`X-Goog-Upload-Command: query`) and
   * sends only what is missing. Resending blindly is not safe: the server may have stored the
   * bytes before the answer was lost.
   */
  async #sendChunk(
    session: UploadSession,
    chunk: UploadChunk,
    attemptsSpent: number,
  ): Promise<{ file?: File; rewindTo?: number; attemptsSpent: number }> {
    const end = chunk.offset + chunk.bytes.byteLength;
    const { maxRetryDelay, onRetry } = this.#transport.settings;
    const signal = session.requestOptions.signal;
    const once = { ...session.requestOptions, maxRetries: 0 };
    let from = chunk.offset;
    let query = false;
    let failure: unknown;
    for (let attempt = attemptsSpent; ; attempt++) {
      const operation = `POST upload session (offset ${from}${chunk.last ? ", finalize" : ""})`;
      try {
        if (query) {
          const state = await this.#queryUpload(session, once);
          if (state.file !== undefined) {
            if (!chunk.last || (state.received !== undefined && state.received !== end)) {
              throw new InvalidResponseError(
                `POST upload session (query): the upload is final with ${state.received ?? "an unknown number of"} bytes, but ${end} were sent${chunk.last ? "" : " and more are to come"}.`,
              );
            }
            return { file: state.file, attemptsSpent: 0 };
          }
          const received = state.received as number;
          if (received > end) {
            throw new InvalidResponseError(
              `POST upload session (query): the server holds ${received} bytes, but only ${end} were sent.`,
            );
          }
          if (received < chunk.offset) {
            if (session.reopen === undefined) {
              throw new UploadResumeError(
                `The upload cannot resume: the server holds ${received} bytes, but the bytes before offset ${chunk.offset} of this stream are no longer in memory. Start the upload again (an upload from bytes or a path can resume).`,
                received,
                chunk.offset,
                { cause: failure },
              );
            }
            return { rewindTo: received, attemptsSpent: attempt };
          }
          // The server already holds this whole chunk: nothing to send again.
          if (received === end && !chunk.last) return { attemptsSpent: 0 };
          from = received;
          query = false;
        }
        const answer = await this.#transport.send(
          {
            method: "POST",
            url: session.url,
            operation,
            headers: {
              "x-goog-upload-command": chunk.last ? "upload, finalize" : "upload",
              "x-goog-upload-offset": String(from),
            },
            bytes: from === chunk.offset ? chunk.bytes : chunk.bytes.subarray(from - chunk.offset),
            sendKey: session.sendKey,
          },
          once,
        );
        const status = answer.response.headers.get("x-goog-upload-status");
        if (!chunk.last) {
          if (status !== null && status !== "active") {
            throw new InvalidResponseError(
              `${operation}: upload status "${status}" before the last chunk (expected "active").`,
            );
          }
          return { attemptsSpent: 0 };
        }
        if (status !== null && status !== "final") {
          throw new InvalidResponseError(
            `${operation}: upload status "${status}" after the last chunk (expected "final").`,
          );
        }
        return { file: this.#uploadedFile(answer.text, operation), attemptsSpent: 0 };
      } catch (error) {
        if (attempt >= session.maxRetries || !isRetryableError(error)) throw error;
        const requested = serverRequestedDelayMs(error);
        if (requested !== undefined && requested > maxRetryDelay) throw error;
        const delayMs = retryDelayMs(error, attempt, {
          baseDelay: DEFAULT_BASE_DELAY,
          maxDelay: maxRetryDelay,
        });
        onRetry?.({ attempt, delayMs, error, operation });
        await sleep(delayMs, signal);
        failure = error;
        query = true;
      }
    }
  }

  /** Asks an upload session what it holds (`X-Goog-Upload-Command: query`). */
  async #queryUpload(
    session: UploadSession,
    options: RequestOptions,
  ): Promise<{ received: number | undefined; file?: File }> {
    const operation = "POST upload session (query)";
    const answer = await this.#transport.send(
      {
        method: "POST",
        url: session.url,
        operation,
        headers: { "x-goog-upload-command": "query" },
        sendKey: session.sendKey,
      },
      options,
    );
    const status = answer.response.headers.get("x-goog-upload-status");
    const header = answer.response.headers.get("x-goog-upload-size-received");
    const received = header === null || !/^\d+$/.test(header) ? undefined : Number(header);
    if (status === "final") {
      return { received, file: this.#uploadedFile(answer.text, operation) };
    }
    if (status !== "active") {
      throw new InvalidResponseError(
        `${operation}: upload status ${status === null ? "missing" : `"${status}"`} (expected "active" or "final").`,
      );
    }
    if (received === undefined || !Number.isSafeInteger(received)) {
      throw new InvalidResponseError(
        `${operation}: the answer has no valid x-goog-upload-size-received header.`,
      );
    }
    return { received };
  }

  #uploadedFile(text: string, operation: string): File {
    const body = this.#parse<{ file?: File }>(text, operation);
    return checkNamed(isObject(body) ? body.file : undefined, operation, "a File in `file`");
  }
}

/** What the chunks of one upload share. */
interface UploadSession {
  url: string;
  sendKey: boolean;
  reopen: ((offset: number) => AsyncIterable<Uint8Array>) | undefined;
  requestOptions: RequestOptions;
  maxRetries: number;
}

// ----- checks -----

function describeShape(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (isObject(value)) {
    const keys = Object.keys(value).slice(0, 5);
    return keys.length ? `keys ${keys.join(", ")}` : "an empty object";
  }
  return value === null ? "null" : typeof value;
}

function checkNamed<T>(value: unknown, operation: string, what: string): T {
  if (!isObject(value) || typeof value.name !== "string") {
    throw new InvalidResponseError(
      `${operation}: expected ${what} with a name (got ${describeShape(value)}).`,
    );
  }
  return value as T;
}

function checkRequest(request: unknown, what: string): void {
  if (!isObject(request)) throw new TypeError(`${what} must be an object`);
  if (!isObject(request.content) || !Array.isArray(request.content.parts)) {
    throw new TypeError(`${what}.content.parts must be an array`);
  }
}

function requiredName(value: unknown, what: string): string {
  if (typeof value !== "string") throw new TypeError(`${what} must be a string`);
  if (value.trim() === "") throw new RangeError(`${what} must not be empty`);
  return value;
}

/** `batches/x` or `x` → `batches/x`, with the id escaped for a path. */
function resourcePath(collection: string, name: string): string {
  const text = requiredName(name, "name");
  const id = text.startsWith(`${collection}/`) ? text.slice(collection.length + 1) : text;
  if (id === "" || id.includes("/")) {
    throw new RangeError(`name must be "${collection}/ID" or "ID", got "${text}"`);
  }
  return `${collection}/${encodeURIComponent(id)}`;
}

function checkListParams(params: ListParams | undefined): ListParams {
  if (params === undefined) return {};
  if (!isObject(params)) throw new TypeError("list params must be an object");
  const result: ListParams = {};
  if (params.pageSize !== undefined) result.pageSize = positiveInteger(params.pageSize, "pageSize");
  const pageToken = optionalString(params.pageToken, "pageToken");
  if (pageToken !== undefined) result.pageToken = pageToken;
  return result;
}

function checkRequestOptions(options: RequestOptions | undefined): RequestOptions {
  if (options === undefined) return {};
  if (!isObject(options)) throw new TypeError("request options must be an object");
  const result: RequestOptions = {};
  if (options.signal !== undefined) {
    if (!(options.signal instanceof AbortSignal)) {
      throw new TypeError("signal must be an AbortSignal");
    }
    result.signal = options.signal;
  }
  if (options.timeout !== undefined) result.timeout = positiveNumber(options.timeout, "timeout");
  if (options.maxRetries !== undefined) {
    result.maxRetries = retryCount(options.maxRetries, "maxRetries");
  }
  return result;
}

/**
 * Surrounding whitespace is dropped (HTTP would drop it too). A key with any other character that
 * is not visible ASCII cannot go into a header: `fetch` would throw a TypeError quoting the whole
 * header value, the key included, so it is refused here with a message that does not show it.
 */
function checkApiKey(key: string, source: string): string {
  const trimmed = key.trim();
  if (!/^[\x21-\x7e]+$/.test(trimmed)) {
    throw new TypeError(
      `The API key from ${source} holds a character that cannot be sent in an HTTP header (only visible ASCII is allowed); the key is not shown.`,
    );
  }
  return trimmed;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

function optionalString(value: unknown, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new TypeError(`${what} must be a string`);
  return value;
}

function optionalHeaders(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (!isObject(value)) throw new TypeError("headers must be an object of strings");
  const headers: Record<string, string> = {};
  for (const [name, item] of Object.entries(value)) {
    if (typeof item !== "string") throw new TypeError(`header "${name}" must be a string`);
    headers[name] = item;
  }
  return headers;
}

function positiveNumber(value: unknown, what: string, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  const number = checkNumber(value, what);
  if (!(number > 0) || !Number.isFinite(number) || number > 2_147_483_647) {
    throw new RangeError(`${what} must be > 0 and at most 2147483647 ms, got ${number}`);
  }
  return number;
}

function nonNegativeNumber(value: unknown, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  const number = checkNumber(value, what);
  if (!(number >= 0) || number > 2_147_483_647) {
    throw new RangeError(`${what} must be >= 0 and at most 2147483647 ms, got ${number}`);
  }
  return number;
}

function retryCount(value: unknown, what: string, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  const number = checkNumber(value, what);
  if (!Number.isInteger(number) || number < 0 || number > 100) {
    throw new RangeError(`${what} must be an integer from 0 to 100, got ${number}`);
  }
  return number;
}

function positiveInteger(value: unknown, what: string, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  const number = checkNumber(value, what);
  if (!Number.isSafeInteger(number) || number < 1) {
    throw new RangeError(`${what} must be an integer >= 1, got ${number}`);
  }
  return number;
}

function nonNegativeInteger(value: unknown, what: string): number {
  const number = checkNumber(value, what);
  if (!Number.isSafeInteger(number) || number < 0) {
    throw new RangeError(`${what} must be an integer >= 0, got ${number}`);
  }
  return number;
}
