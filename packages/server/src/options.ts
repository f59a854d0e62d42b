/**
 * Options of the local server, and their checking (TypeError for a bad type, RangeError for a bad
 * range, before the server starts).
 *
 * @module
 */

/**
 * The quotas the local server enforces, per model, counted per text like the real ones (not
 * `gembed`'s `QuotaOptions`, the client-side limiter). Unset quotas are unlimited.
 */
export interface ServerQuotaOptions {
  /** Texts per window (each item of a batch counts). @default undefined (unlimited) */
  textsPerMinute?: number | undefined;
  /** Estimated input tokens per window. @default undefined (unlimited) */
  tokensPerMinute?: number | undefined;
  /** Texts per day window. @default undefined (unlimited) */
  textsPerDay?: number | undefined;
  /** Length of the "minute" window in ms (tests use short windows). @default 60_000 */
  windowMs?: number | undefined;
  /** Length of the "day" window in ms. @default 86_400_000 */
  dayMs?: number | undefined;
}

/** Fault injection, to test clients against the failure modes of the real service. */
export interface FaultOptions {
  /** Share (0..1) of embedding requests answered 500 INTERNAL. @default 0 */
  rate500?: number | undefined;
  /** Share (0..1) of embedding requests answered 503 UNAVAILABLE. @default 0 */
  rate503?: number | undefined;
  /** Share (0..1) of embedding requests whose connection is dropped without an answer. @default 0 */
  dropRate?: number | undefined;
  /** Share (0..1) of `batchEmbedContents` answers (200) with the last embedding missing. @default 0 */
  shortAnswerRate?: number | undefined;
  /** Latency added to every embedding request, in ms. @default 0 */
  latencyMs?: number | undefined;
  /** Latency added per text of an embedding request, in ms. @default 0 */
  latencyPerTextMs?: number | undefined;
  /** Seed of the fault dice, so a run can be replayed. @default 1 */
  seed?: number | undefined;
}

/** Batch job timing. */
export interface BatchOptions {
  /** Processing time added per item, in ms, so clients can be tested waiting. @default 0 */
  delayPerItemMs?: number | undefined;
  /** A job not finished this long after creation ends `BATCH_STATE_EXPIRED`. @default 172_800_000 (48 h) */
  jobLifetimeMs?: number | undefined;
  /** Files are deleted this long after creation. @default 172_800_000 (48 h) */
  fileLifetimeMs?: number | undefined;
  /** Jobs run at the same time. @default 1 */
  concurrency?: number | undefined;
  /**
   * Largest output of an inline job, in bytes, estimated at creation (13 bytes a value plus each
   * item's envelope and metadata): the output is sent inside the job's JSON, which is built in
   * memory, so a larger inline job is refused (400) and must use an input file instead.
   * At most 250,000,000 (a job's Operation carries the output twice, in one V8 string).
   * @default 134_217_728 (128 MiB)
   */
  maxInlineOutputBytes?: number | undefined;
}

/** Options of {@link startServer}. */
export interface ServerOptions {
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number | undefined;
  /** Interface to listen on. @default "127.0.0.1" */
  host?: string | undefined;
  /** Folder of jobs and files (kept across restarts). @default a fresh temporary folder */
  dataDir?: string | undefined;
  /** When set, requests must carry one of these keys (`x-goog-api-key` or `?key=`). @default undefined (any key or none) */
  apiKeys?: string[] | undefined;
  /** Body limit of the JSON endpoints, in bytes. @default 4_194_304 (4 MiB) */
  bodyLimit?: number | undefined;
  /** Body limit of `asyncBatchEmbedContent`, in bytes. @default 20_971_520 (20 MiB) */
  batchBodyLimit?: number | undefined;
  /** Body limit of one upload chunk, in bytes. @default 9_437_184 (8 MiB + 1 MiB) */
  uploadChunkLimit?: number | undefined;
  /** Per-model quotas. @default {} (unlimited) */
  quota?: ServerQuotaOptions | undefined;
  /** Fault injection. @default {} (none) */
  faults?: FaultOptions | undefined;
  /** Batch job timing. @default {} */
  batch?: BatchOptions | undefined;
  /**
   * Time a client has to send a request's headers, in ms; past it the request is answered 408
   * and its connection closed. @default 10_000
   */
  headersTimeoutMs?: number | undefined;
  /**
   * Time a client has to send a whole request (headers and body), in ms; past it the request is
   * answered 408 and its connection closed. At least `headersTimeoutMs`. @default 60_000
   */
  requestTimeoutMs?: number | undefined;
  /** pino log level (`"silent"`, `"info"`, `"debug"`...). @default "silent" */
  logLevel?: string | undefined;
  /** Where log lines go (a pino destination). @default standard output */
  logStream?: { write(line: string): void } | undefined;
}

/** Counters of one server, see {@link RunningServer.stats}. */
export interface ServerStats {
  /** HTTP requests answered (all endpoints). */
  requests: number;
  /** Texts embedded (synchronously and in batch jobs). */
  texts: number;
  /** Estimated tokens embedded. */
  tokens: number;
  /** Requests by endpoint name (`embedContent`, `batchEmbedContents`, `batches.get`...). */
  byEndpoint: Record<string, number>;
  /** Batch jobs created. */
  batchesCreated: number;
  /** Files uploaded. */
  filesUploaded: number;
  /** 429 answers. */
  quotaRejections: number;
  /** Injected faults by kind (`500`, `503`, `drop`, `short`). */
  faults: Record<string, number>;
}

/** What {@link startServer} resolves to. */
export interface RunningServer {
  /** `http://127.0.0.1:PORT`, without a trailing slash. */
  url: string;
  /** The data folder in use. */
  dataDir: string;
  /** Stops accepting requests, persists the running jobs and closes. */
  close(): Promise<void>;
  /** A snapshot of the counters. */
  stats(): ServerStats;
}

/** `T` with every field given: what is left once the defaults are applied. @internal */
type Defined<T> = { [Key in keyof T]-?: Exclude<T[Key], undefined> };

/** Options with defaults applied. @internal */
export interface ResolvedOptions {
  port: number;
  host: string;
  dataDir: string | undefined;
  apiKeys: Set<string> | undefined;
  bodyLimit: number;
  batchBodyLimit: number;
  uploadChunkLimit: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  quota: {
    textsPerMinute: number | undefined;
    tokensPerMinute: number | undefined;
    textsPerDay: number | undefined;
    windowMs: number;
    dayMs: number;
  };
  faults: Defined<FaultOptions>;
  batch: Defined<BatchOptions>;
  logLevel: string;
  logStream: { write(line: string): void } | undefined;
}

function checkObject(value: unknown, name: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`${name} must be an object`);
  }
  return value as Record<string, unknown>;
}

function checkNumber(
  value: unknown,
  name: string,
  minimum: number,
  maximum: number,
  integer: boolean,
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(`${name} must be a number`);
  }
  if (integer && !Number.isInteger(value)) throw new RangeError(`${name} must be an integer`);
  if (value < minimum || value > maximum) {
    throw new RangeError(`${name} must be between ${minimum} and ${maximum}`);
  }
  return value;
}

function checkString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new TypeError(`${name} must be a string`);
  return value;
}

const HOUR = 3_600_000;
/**
 * V8 strings hold at most 2^29 - 24 characters, and a job's Operation carries its output twice
 * (`metadata.output` and `response`).
 */
const MAX_INLINE_OUTPUT_BYTES = 250_000_000;
const LOG_LEVELS = new Set(["silent", "fatal", "error", "warn", "info", "debug", "trace"]);

/** Checks the options and applies the defaults. @internal */
export function resolveOptions(options: ServerOptions | undefined): ResolvedOptions {
  const given = checkObject(options, "options") as ServerOptions;
  const quota = checkObject(given.quota, "options.quota") as ServerQuotaOptions;
  const faults = checkObject(given.faults, "options.faults") as FaultOptions;
  const batch = checkObject(given.batch, "options.batch") as BatchOptions;
  let apiKeys: Set<string> | undefined;
  if (given.apiKeys !== undefined) {
    if (!Array.isArray(given.apiKeys) || given.apiKeys.some((key) => typeof key !== "string")) {
      throw new TypeError("options.apiKeys must be an array of strings");
    }
    if (given.apiKeys.some((key) => key.length === 0)) {
      throw new RangeError("options.apiKeys must not contain an empty key");
    }
    apiKeys = new Set(given.apiKeys);
  }
  const logLevel = checkString(given.logLevel, "options.logLevel") ?? "silent";
  if (!LOG_LEVELS.has(logLevel)) {
    throw new RangeError(`options.logLevel must be one of ${[...LOG_LEVELS].join(", ")}`);
  }
  if (
    given.logStream !== undefined &&
    (typeof given.logStream !== "object" || typeof given.logStream.write !== "function")
  ) {
    throw new TypeError("options.logStream must have a write(line) method");
  }
  const rate = (value: unknown, name: string) => checkNumber(value, name, 0, 1, false) ?? 0;
  const big = Number.MAX_SAFE_INTEGER;
  const resolved: ResolvedOptions = {
    port: checkNumber(given.port, "options.port", 0, 65535, true) ?? 0,
    host: checkString(given.host, "options.host") ?? "127.0.0.1",
    dataDir: checkString(given.dataDir, "options.dataDir"),
    apiKeys,
    bodyLimit: checkNumber(given.bodyLimit, "options.bodyLimit", 1024, 2 ** 31, true) ?? 4_194_304,
    batchBodyLimit:
      checkNumber(given.batchBodyLimit, "options.batchBodyLimit", 1024, 2 ** 31, true) ??
      20_971_520,
    uploadChunkLimit:
      checkNumber(given.uploadChunkLimit, "options.uploadChunkLimit", 1024, 2 ** 31, true) ??
      9_437_184,
    headersTimeoutMs:
      checkNumber(given.headersTimeoutMs, "options.headersTimeoutMs", 100, HOUR, true) ?? 10_000,
    requestTimeoutMs:
      checkNumber(given.requestTimeoutMs, "options.requestTimeoutMs", 100, HOUR, true) ?? 60_000,
    quota: {
      textsPerMinute: checkNumber(quota.textsPerMinute, "quota.textsPerMinute", 1, big, true),
      tokensPerMinute: checkNumber(quota.tokensPerMinute, "quota.tokensPerMinute", 1, big, true),
      textsPerDay: checkNumber(quota.textsPerDay, "quota.textsPerDay", 1, big, true),
      windowMs: checkNumber(quota.windowMs, "quota.windowMs", 1, big, false) ?? 60_000,
      dayMs: checkNumber(quota.dayMs, "quota.dayMs", 1, big, false) ?? 24 * HOUR,
    },
    faults: {
      rate500: rate(faults.rate500, "faults.rate500"),
      rate503: rate(faults.rate503, "faults.rate503"),
      dropRate: rate(faults.dropRate, "faults.dropRate"),
      shortAnswerRate: rate(faults.shortAnswerRate, "faults.shortAnswerRate"),
      latencyMs: checkNumber(faults.latencyMs, "faults.latencyMs", 0, HOUR, false) ?? 0,
      latencyPerTextMs:
        checkNumber(faults.latencyPerTextMs, "faults.latencyPerTextMs", 0, HOUR, false) ?? 0,
      seed: checkNumber(faults.seed, "faults.seed", 0, 2 ** 32 - 1, true) ?? 1,
    },
    batch: {
      delayPerItemMs:
        checkNumber(batch.delayPerItemMs, "batch.delayPerItemMs", 0, HOUR, false) ?? 0,
      jobLifetimeMs:
        checkNumber(batch.jobLifetimeMs, "batch.jobLifetimeMs", 1, big, false) ?? 48 * HOUR,
      fileLifetimeMs:
        checkNumber(batch.fileLifetimeMs, "batch.fileLifetimeMs", 1, big, false) ?? 48 * HOUR,
      concurrency: checkNumber(batch.concurrency, "batch.concurrency", 1, 64, true) ?? 1,
      maxInlineOutputBytes:
        checkNumber(
          batch.maxInlineOutputBytes,
          "batch.maxInlineOutputBytes",
          1024,
          MAX_INLINE_OUTPUT_BYTES,
          true,
        ) ?? 134_217_728,
    },
    logLevel,
    logStream: given.logStream,
  };
  if (resolved.requestTimeoutMs < resolved.headersTimeoutMs) {
    // Node refuses a request time limit shorter than the headers' one.
    if (given.requestTimeoutMs !== undefined) {
      throw new RangeError("options.requestTimeoutMs must be at least options.headersTimeoutMs");
    }
    resolved.requestTimeoutMs = resolved.headersTimeoutMs;
  }
  if (resolved.faults.rate500 + resolved.faults.rate503 + resolved.faults.dropRate > 1) {
    throw new RangeError("faults.rate500 + faults.rate503 + faults.dropRate must be at most 1");
  }
  return resolved;
}
