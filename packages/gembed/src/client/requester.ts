/**
 * `Requester`: what every group of endpoints (`batches`, `files`, `models`) and the client itself
 * share: the URL of a path, one JSON call through the transport, and the paging of list calls.
 *
 * @module
 */

import { InvalidResponseError } from "../errors.js";
import { isObject } from "../util/objects.js";
import {
  checkNamed,
  checkRequestOptions,
  optionalString,
  positiveInteger,
  resourcePath,
} from "./checks.js";
import { excerpt, type RequestOptions, type Transport } from "./http.js";

/** Paging parameters of the list methods. */
export interface ListParams {
  /** Items per page (the server caps it). @default the server's default */
  pageSize?: number | undefined;
  /** The `nextPageToken` of the previous page. @default undefined (first page) */
  pageToken?: string | undefined;
}

/** One client's way to the API: its transport, host and version. */
export class Requester {
  /** The transport (retries, timeouts, key, redaction). */
  readonly transport: Transport;
  /** The base URL, without a trailing slash. */
  readonly baseUrl: string;
  /** The API version in paths. */
  readonly apiVersion: string;

  constructor(transport: Transport, baseUrl: string, apiVersion: string) {
    this.transport = transport;
    this.baseUrl = baseUrl;
    this.apiVersion = apiVersion;
  }

  /** The URL of an API path, with the query's defined values. */
  url(path: string, query?: Record<string, string | number | undefined>, prefix = ""): string {
    const url = `${this.baseUrl}${prefix}/${this.apiVersion}/${path}`;
    if (!query) return url;
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) search.set(key, String(value));
    }
    const text = search.toString();
    return text ? `${url}?${text}` : url;
  }

  /** Sends one call and parses its JSON answer. */
  async json<T>(
    call: Parameters<Transport["send"]>[0],
    options: RequestOptions | undefined,
  ): Promise<T> {
    const answer = await this.transport.send(call, checkRequestOptions(options));
    return this.parse<T>(answer.text, call.operation);
  }

  /** Parses an answer body (an empty body is `{}`); a body that is not JSON is an `InvalidResponseError`. */
  parse<T>(text: string, operation: string): T {
    if (text.trim() === "") return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      // V8's SyntaxError quotes up to the whole body (a short echoed key included), so the cause
      // is a plain one; the message carries a redacted excerpt instead.
      throw new InvalidResponseError(
        `${operation}: the answer is not JSON: ${excerpt(this.transport.redact(text))}`,
        { cause: new SyntaxError("The answer body is not valid JSON.") },
      );
    }
  }

  /** Gets one named resource (`collection/x` or `x`) and checks the answer has a name. */
  async getNamed<T>(
    collection: "batches" | "files" | "models",
    name: string,
    what: string,
    options?: RequestOptions,
  ): Promise<T> {
    const path = resourcePath(collection, name);
    const operation = `GET ${path}`;
    const body = await this.json<T>({ method: "GET", url: this.url(path), operation }, options);
    return checkNamed(body, operation, what);
  }

  /** Deletes one named resource. */
  async delete(
    collection: "batches" | "files",
    name: string,
    options?: RequestOptions,
  ): Promise<void> {
    const path = resourcePath(collection, name);
    // A retried DELETE that already succeeded would answer 404: retry only when nothing was done.
    await this.json(
      { method: "DELETE", url: this.url(path), operation: `DELETE ${path}`, retry: "safe" },
      options,
    );
  }

  /** One page of a collection. */
  async list<T>(collection: string, params: ListParams | undefined, options?: RequestOptions) {
    const { pageSize, pageToken } = checkListParams(params);
    const operation = `GET ${collection}`;
    const body = await this.json<T>(
      { method: "GET", url: this.url(collection, { pageSize, pageToken }), operation },
      options,
    );
    if (!isObject(body)) throw new InvalidResponseError(`${operation}: expected a JSON object.`);
    return body;
  }

  /** Every item of a collection, page after page; a repeated page token is an error, not a loop. */
  async *listAll<Item, Page extends { nextPageToken?: string }>(
    collection: string,
    items: (page: Page) => Item[] | undefined,
    params: Omit<ListParams, "pageToken"> | undefined,
    options?: RequestOptions,
  ): AsyncGenerator<Item> {
    const seen = new Set<string>();
    let pageToken: string | undefined;
    do {
      const page: Page = await this.list<Page>(
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
