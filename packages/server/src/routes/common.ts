/**
 * What the route groups share: the `:verb` of a path segment, page tokens and paging, and the
 * `v1` to `v1beta` rewrite.
 *
 * @module
 */

import { invalidArgument } from "../status.js";

/**
 * Serves the `v1` API as `v1beta`: the Python SDK `google-genai` (3.x) calls
 * `/v1/models/...:batchEmbedContents`, `/v1/batches`, `/upload/v1/files` by default, and the
 * embeddings surface is the same under both versions.
 */
export function v1AsV1beta(url: string): string {
  return url.replace(/^\/((?:upload|download)\/)?v1(?=[/?]|$)/, (_whole, prefix?: string) => {
    return `/${prefix ?? ""}v1beta`;
  });
}

/** The page token of an offset: base64url of `o<offset>`. */
export function pageToken(offset: number): string {
  return Buffer.from(`o${offset}`, "utf8").toString("base64url");
}

/** `name:verb` into its name and its verb (`undefined` without a colon). */
export function splitVerb(value: string): [string, string | undefined] {
  const at = value.lastIndexOf(":");
  return at < 0 ? [value, undefined] : [value.slice(0, at), value.slice(at + 1)];
}

/**
 * One page of `items` by the `pageSize`/`pageToken` of a query (snake_case too); a token this
 * server did not give is an INVALID_ARGUMENT.
 */
export function pageOf<T>(
  items: T[],
  query: Record<string, unknown>,
  defaultSize: number,
  maxSize: number,
): { page: T[]; offset: number; nextPageToken: string | undefined } {
  const sizeRaw = query.pageSize ?? query.page_size;
  let size = defaultSize;
  if (sizeRaw !== undefined) {
    const parsed = Number(sizeRaw);
    if (!Number.isInteger(parsed) || parsed < 0) {
      throw invalidArgument(`Invalid value at 'page_size' (TYPE_INT32), "${String(sizeRaw)}"`);
    }
    size = parsed === 0 ? defaultSize : Math.min(parsed, maxSize);
  }
  const tokenRaw = query.pageToken ?? query.page_token;
  let offset = 0;
  if (tokenRaw !== undefined && tokenRaw !== "") {
    // Only a token this server gave: base64url of `o<offset>` (Buffer.from would skip the
    // characters that are not base64 and read `%%%` as offset 0).
    const decoded =
      typeof tokenRaw === "string" && /^[A-Za-z0-9_-]+$/.test(tokenRaw)
        ? /^o(0|[1-9]\d{0,15})$/.exec(Buffer.from(tokenRaw, "base64url").toString("utf8"))
        : null;
    if (decoded === null || pageToken(Number(decoded[1])) !== tokenRaw) {
      throw invalidArgument(
        `Invalid page token ${JSON.stringify(String(tokenRaw))}: pass the nextPageToken of the previous page.`,
      );
    }
    offset = Number(decoded[1]);
  }
  const page = items.slice(offset, offset + size);
  const next = offset + size < items.length ? offset + size : undefined;
  return { page, offset, nextPageToken: next === undefined ? undefined : pageToken(next) };
}
