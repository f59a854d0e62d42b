/**
 * `gembed/node`: what needs Node's file system. The core (`gembed`) imports no `node:` module,
 * so it runs in browsers, workers, Deno and Bun; this entry adds the Node implementations.
 *
 * @module
 */

export { type FileLock, type LockOwner, lockFile } from "./platform/file-lock.js";
export {
  type AtomicWriteData,
  type AtomicWriteOptions,
  temporaryPath,
  writeFileAtomic,
} from "./util/atomic-write.js";
