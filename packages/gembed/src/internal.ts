/**
 * `gembed/internal`: helpers the sibling packages (`@gembed/server`, `@gembed/ingest`,
 * `@gembed/milvus`, `@gembed/cli`) share with the core. Not part of the public API: names here
 * may change in any release.
 *
 * @internal
 * @module
 */

export { splitLines } from "./batch/results.js";
export { checkInteger, checkNumber } from "./util/checks.js";
export { describeType, isObject } from "./util/objects.js";
