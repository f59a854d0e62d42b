/**
 * The models group of endpoints (`client.models`).
 *
 * @module
 */

import type { ListModelsResponse, Model } from "../../api/types.js";
import type { RequestOptions } from "../http.js";
import type { ListParams, Requester } from "../requester.js";

/** The models API (`/v1beta/models`). */
export interface ModelsApi {
  /** Gets a model (`models/x` or `x`). */
  get(name: string, options?: RequestOptions): Promise<Model>;
  /** One page of models. */
  list(params?: ListParams, options?: RequestOptions): Promise<ListModelsResponse>;
  /** Every model, page after page. */
  listAll(params?: Omit<ListParams, "pageToken">, options?: RequestOptions): AsyncIterable<Model>;
}

/** The models API of one client. */
export function modelsApi(requester: Requester): ModelsApi {
  return {
    get: (name, options) => requester.getNamed<Model>("models", name, "a Model", options),
    list: (params, options) => requester.list<ListModelsResponse>("models", params, options),
    listAll: (params, options) =>
      requester.listAll<Model, ListModelsResponse>(
        "models",
        (page) => page.models,
        params,
        options,
      ),
  };
}
