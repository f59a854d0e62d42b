/**
 * `gembed/node`: what needs Node's file system. The core (`gembed`) imports no `node:` module,
 * so it runs in browsers, workers, Deno and Bun; this entry adds the Node implementations.
 *
 * @module
 */

export {
  MEDIA_FILE_EXTENSIONS,
  mediaMimeTypeOfPath,
  readMediaFactsFromFile,
  readMediaFile,
} from "./embedding/media-node.js";
export { type FileLock, type LockOwner, lockFile } from "./platform/file-lock.js";
export {
  type AtomicWriteData,
  type AtomicWriteOptions,
  temporaryPath,
  writeFileAtomic,
} from "./util/atomic-write.js";
