/**
 * Building the input of Batch API jobs: keys that map back to input indices, the choice between
 * inline requests (the whole request under 20 MB) and an uploaded JSONL file (up to 2 GB each),
 * and the split into several jobs when the work is over one file's limit.
 *
 * Nothing here keeps the serialized input in memory: sizes are measured in one pass and the JSONL
 * lines are produced again, lazily, while uploading.
 *
 * @module
 */

import type {
  BatchInputLine,
  EmbedContentRequest,
  InlinedEmbedContentRequest,
} from "../api/types.js";
import { checkNumber } from "../util/checks.js";
import { utf8Bytes, utf8Length } from "../util/utf8.js";

/** Size limits of the Batch API input. */
export interface BatchInputLimits {
  /**
   * Largest body of an `asyncBatchEmbedContent` request with inline requests, in bytes. Larger
   * input goes through an uploaded JSONL file.
   * @default 20_000_000 (the API's "under 20 MB", with a margin for the envelope)
   */
  inlineBytes?: number;
  /**
   * Largest JSONL input file of one job, in bytes; more input is split into several jobs.
   * @default 2_000_000_000 (the files API's 2 GB)
   */
  fileBytes?: number;
  /**
   * Largest expected inline output (all vectors as JSON in one job resource, which cannot be
   * streamed), in bytes: above it, `"auto"` uploads a file so the results can be streamed.
   * @default 100_000_000
   */
  inlineOutputBytes?: number;
}

/** The default {@link BatchInputLimits}. */
export const DEFAULT_BATCH_INPUT_LIMITS: Readonly<Required<BatchInputLimits>> = {
  inlineBytes: 20_000_000,
  fileBytes: 2_000_000_000,
  inlineOutputBytes: 100_000_000,
};

// A value such as "-0.012345678," and the envelope of one inline response.
const OUTPUT_BYTES_PER_VALUE = 13;
const OUTPUT_BYTES_PER_ITEM = 100;
const DEFAULT_OUTPUT_VALUES = 3072;

/** How one job's input travels. */
export type BatchInputMode = "inline" | "file";

/** One planned job: the inputs `[start, end)` and how they travel. */
export interface BatchJobPlan {
  /** First input index of the job. */
  start: number;
  /** One past the last input index of the job. */
  end: number;
  /** Inline requests or an uploaded JSONL file. */
  mode: BatchInputMode;
  /** Bytes of the JSONL file (mode `file`) or of the inline requests array (mode `inline`). */
  bytes: number;
}

/** The key of input `index`: its decimal index, so a result maps back without a lookup table. */
export function keyForIndex(index: number): string {
  return String(index);
}

/** Parses a key made by {@link keyForIndex}; undefined when it is not one. */
export function indexForKey(key: unknown): number | undefined {
  if (typeof key !== "string" || !/^(0|[1-9]\d{0,15})$/.test(key)) return undefined;
  return Number(key);
}

/**
 * One line of a JSONL input file, without the newline. The request's `model` is left out (the
 * job names the model, and the API's own file lines carry none): about 30 bytes a line saved.
 */
function inputLine(key: string, request: EmbedContentRequest): string {
  const { model: _model, ...rest } = request;
  const line: BatchInputLine = { key, request: rest };
  return JSON.stringify(line);
}

/** One inline request of a job, carrying its key in `metadata`. */
function inlineRequest(key: string, request: EmbedContentRequest): InlinedEmbedContentRequest {
  return { request, metadata: { key } };
}

// `{"batch":{...,"inputConfig":{"requests":{"requests":[` ... `]}}}}`: the envelope around the
// inline requests, generously counted (display name, model, priority).
const INLINE_ENVELOPE_BYTES = 4_096;

/**
 * Plans the jobs for `requests`: one inline job when the whole request stays under
 * `limits.inlineBytes`, else JSONL files of at most `limits.fileBytes` each, one job per file.
 * A single line larger than a file is a RangeError.
 *
 * @param keys - the key of each request; default {@link keyForIndex}.
 */
export function planBatchJobs(
  requests: readonly EmbedContentRequest[],
  options: {
    limits?: BatchInputLimits | undefined;
    keys?: readonly string[] | undefined;
    mode?: BatchInputMode | undefined;
  } = {},
): BatchJobPlan[] {
  const limits = resolveLimits(options.limits);
  if (requests.length === 0) return [];
  const keyOf = (index: number) => options.keys?.[index] ?? keyForIndex(index);
  // One pass measures both forms: inline items and JSONL lines.
  let inlineBytes = INLINE_ENVELOPE_BYTES;
  let outputBytes = 0;
  const lineBytes = new Float64Array(requests.length);
  for (let index = 0; index < requests.length; index++) {
    const request = requests[index] as EmbedContentRequest;
    const key = keyOf(index);
    const line = utf8Length(inputLine(key, request)) + 1;
    lineBytes[index] = line;
    if (options.mode !== "file") {
      inlineBytes += utf8Length(JSON.stringify(inlineRequest(key, request))) + 1;
      outputBytes +=
        OUTPUT_BYTES_PER_ITEM +
        OUTPUT_BYTES_PER_VALUE * (request.outputDimensionality ?? DEFAULT_OUTPUT_VALUES);
    }
  }
  const wantInline =
    options.mode === "inline" ||
    (options.mode === undefined &&
      inlineBytes < limits.inlineBytes &&
      outputBytes <= limits.inlineOutputBytes);
  if (wantInline) {
    if (inlineBytes >= limits.inlineBytes) {
      throw new RangeError(
        `The inline input is ${inlineBytes} bytes, over the ${limits.inlineBytes}-byte limit of one request; use mode "file".`,
      );
    }
    return [{ start: 0, end: requests.length, mode: "inline", bytes: inlineBytes }];
  }
  const plans: BatchJobPlan[] = [];
  let start = 0;
  let bytes = 0;
  for (let index = 0; index < requests.length; index++) {
    const line = lineBytes[index] as number;
    if (line > limits.fileBytes) {
      throw new RangeError(
        `Input #${index} takes ${line} bytes as a JSONL line, over the ${limits.fileBytes}-byte file limit.`,
      );
    }
    if (bytes + line > limits.fileBytes) {
      plans.push({ start, end: index, mode: "file", bytes });
      start = index;
      bytes = 0;
    }
    bytes += line;
  }
  plans.push({ start, end: requests.length, mode: "file", bytes });
  return plans;
}

/**
 * The JSONL input file of `requests[start, end)`, produced lazily in chunks of about `chunkBytes`
 * so that a 2 GB file never sits in memory.
 */
export async function* jsonlInput(
  requests: readonly EmbedContentRequest[],
  start: number,
  end: number,
  options: { keys?: readonly string[]; chunkBytes?: number } = {},
): AsyncGenerator<Uint8Array> {
  const chunkBytes = options.chunkBytes ?? 1 << 20;
  let pending: string[] = [];
  let pendingLength = 0;
  for (let index = start; index < end; index++) {
    const line = `${inputLine(options.keys?.[index] ?? keyForIndex(index), requests[index] as EmbedContentRequest)}\n`;
    pending.push(line);
    pendingLength += line.length;
    if (pendingLength >= chunkBytes) {
      yield utf8Bytes(pending.join(""));
      pending = [];
      pendingLength = 0;
    }
  }
  if (pending.length > 0) yield utf8Bytes(pending.join(""));
}

/** The inline requests of `requests[start, end)`. */
export function inlineRequests(
  requests: readonly EmbedContentRequest[],
  start: number,
  end: number,
  keys?: readonly string[],
): InlinedEmbedContentRequest[] {
  const items: InlinedEmbedContentRequest[] = [];
  for (let index = start; index < end; index++) {
    items.push(
      inlineRequest(keys?.[index] ?? keyForIndex(index), requests[index] as EmbedContentRequest),
    );
  }
  return items;
}

/** Fills the defaults of {@link BatchInputLimits} and checks them. */
export function resolveLimits(limits: BatchInputLimits | undefined): Required<BatchInputLimits> {
  if (limits !== undefined && (typeof limits !== "object" || limits === null)) {
    throw new TypeError("limits must be an object");
  }
  const resolved = { ...DEFAULT_BATCH_INPUT_LIMITS, ...limits };
  for (const name of ["inlineBytes", "fileBytes", "inlineOutputBytes"] as const) {
    const value = checkNumber(resolved[name], `limits.${name}`);
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`limits.${name} must be a positive integer, got ${value}`);
    }
  }
  return resolved;
}
