/**
 * The batch jobs group of endpoints (`client.batches`).
 *
 * @module
 */

import type { EmbedContentBatch, ListOperationsResponse, Operation } from "../../api/types.js";
import { InvalidResponseError } from "../../errors.js";
import { isObject } from "../../util/objects.js";
import { resourcePath } from "../checks.js";
import type { RequestOptions } from "../http.js";
import type { ListParams, Requester } from "../requester.js";

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

/** The batch jobs API of one client. */
export function batchesApi(requester: Requester): BatchesApi {
  return {
    get: (name, options) => requester.getNamed<Operation>("batches", name, "an Operation", options),
    list: (params, options) => requester.list<ListOperationsResponse>("batches", params, options),
    listAll: (params, options) =>
      requester.listAll<Operation, ListOperationsResponse>(
        "batches",
        (page) => page.operations,
        params,
        options,
      ),
    cancel: async (name, options) => {
      const path = `${resourcePath("batches", name)}:cancel`;
      await requester.json(
        { method: "POST", url: requester.url(path), operation: `POST ${path}` },
        options,
      );
    },
    delete: (name, options) => requester.delete("batches", name, options),
    updateEmbedContentBatch: async (name, batch, updateMask, options) => {
      if (!isObject(batch)) throw new TypeError("batch must be an object");
      if (typeof updateMask !== "string") throw new TypeError("updateMask must be a string");
      if (updateMask.trim() === "") throw new RangeError("updateMask must name at least one field");
      const path = `${resourcePath("batches", name)}:updateEmbedContentBatch`;
      const operation = `PATCH ${path}`;
      const body = await requester.json<EmbedContentBatch>(
        { method: "PATCH", url: requester.url(path, { updateMask }), operation, json: batch },
        options,
      );
      if (!isObject(body)) {
        throw new InvalidResponseError(`${operation}: expected an EmbedContentBatch object.`);
      }
      return body;
    },
  };
}
