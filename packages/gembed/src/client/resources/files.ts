/**
 * The files group of endpoints (`client.files`): metadata, listing, deletion, the resumable
 * upload (`../upload.ts`) and the streamed download.
 *
 * @module
 */

import type { Readable } from "#platform";
import type { File, ListFilesResponse } from "../../api/types.js";
import { checkRequestOptions, resourcePath } from "../checks.js";
import type { RequestOptions } from "../http.js";
import type { ListParams, Requester } from "../requester.js";
import { type UploadParams, type UploadSource, uploadFile } from "../upload.js";

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

/** The files API of one client. */
export function filesApi(requester: Requester): FilesApi {
  return {
    upload: (source, params, options) => uploadFile(requester, source, params, options),
    get: (name, options) => requester.getNamed<File>("files", name, "a File", options),
    list: (params, options) => requester.list<ListFilesResponse>("files", params, options),
    listAll: (params, options) =>
      requester.listAll<File, ListFilesResponse>("files", (page) => page.files, params, options),
    delete: (name, options) => requester.delete("files", name, options),
    download: async (name, options) => {
      const path = `${resourcePath("files", name)}:download`;
      const call = {
        method: "GET" as const,
        url: requester.url(path, { alt: "media" }, "/download"),
        operation: `GET download/${path}`,
      };
      const requestOptions = checkRequestOptions(options);
      const response = await requester.transport.sendStreaming(call, requestOptions);
      return requester.transport.readable(response, call, requestOptions);
    },
  };
}
