/**
 * The options every embedding command shares (`--model`, `--dim`, `--base-url`) and the
 * embedding function built from them. The API key is read from `GEMINI_API_KEY` /
 * `GOOGLE_API_KEY` only: a key on the command line would land in shell history and `ps`.
 *
 * @module
 */

import { type Command, InvalidArgumentError } from "commander";
import {
  GeminiEmbeddingFunction,
  type InputTooLongInfo,
  InvalidOptionError,
  MissingApiKeyError,
} from "gembed";
import { UsageError } from "./errors.js";
import { showWait } from "./progress.js";

/** The parsed shared options. */
export interface EmbeddingCliOptions {
  model: string;
  dim?: number | undefined;
  baseUrl?: string | undefined;
  concurrency?: number | undefined;
}

/** A commander parser for an integer within a range. */
export function integerOption(name: string, minimum: number, maximum = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < minimum || number > maximum) {
      throw new InvalidArgumentError(
        `${name} must be an integer${maximum === Number.MAX_SAFE_INTEGER ? ` >= ${minimum}` : ` from ${minimum} to ${maximum}`}.`,
      );
    }
    return number;
  };
}

/**
 * A commander parser for `--model`: `name` or `models/name`, of letters, digits, `.`, `-` and
 * `_`. The name goes into the request's path: `../x`, `x?key=…` or `x#y` would send the call (and
 * the key) to another path of the server than the model's.
 */
export function modelOption(value: string): string {
  if (!/^(models\/)?[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value)) {
    throw new InvalidArgumentError(
      "a model is a name such as gemini-embedding-001 or models/gemini-embedding-001 (letters, digits, '.', '-' and '_').",
    );
  }
  return value;
}

/** Whether `value` is an absolute http(s) URL, as the client wants for its base URL. */
function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

/** A commander parser for `--base-url`: an absolute http(s) URL (a usage error, not a TypeError). */
export function baseUrlOption(value: string): string {
  if (!isHttpUrl(value)) {
    throw new InvalidArgumentError(
      "give an absolute http(s) URL, such as http://127.0.0.1:8080 for a local gembed serve.",
    );
  }
  return value;
}

/**
 * Without `--base-url`, a `GOOGLE_GEMINI_BASE_URL` that is not an http(s) URL is a usage error
 * naming the variable (not the client's `TypeError: baseUrl must be…`, exit 1). The value is not
 * repeated: a key pasted into the wrong variable must not be printed.
 */
export function checkBaseUrlEnvironment(baseUrl: string | undefined): void {
  const fromEnvironment = process.env.GOOGLE_GEMINI_BASE_URL;
  if (baseUrl !== undefined || fromEnvironment === undefined || fromEnvironment.trim() === "")
    return;
  if (!isHttpUrl(fromEnvironment.trim())) {
    throw new UsageError(
      "GOOGLE_GEMINI_BASE_URL is not an absolute http(s) URL: set it to one (such as http://127.0.0.1:8080 for a local gembed serve), or unset it to use Google's API",
    );
  }
}

/** Adds `--model`, `--dim`, `--base-url` and `--concurrency` to a command. */
export function addEmbeddingOptions(command: Command): Command {
  return command
    .option("--model <name>", "embedding model", modelOption, "gemini-embedding-001")
    .option(
      "--dim <n>",
      "output dimensionality (128..3072); default the model's",
      integerOption("--dim", 1),
    )
    .option(
      "--base-url <url>",
      "Gemini API base URL, e.g. a local `gembed serve` (default: $GOOGLE_GEMINI_BASE_URL, else Google's)",
      baseUrlOption,
    )
    .option(
      "--concurrency <n>",
      "embedding calls in flight",
      integerOption("--concurrency", 1, 64),
    );
}

/** Whether a URL names this machine (127.0.0.0/8, `::1`, `localhost`). */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return false;
  }
  return (
    host === "localhost" ||
    host.endsWith(".localhost") ||
    host === "[::1]" ||
    /^127(\.\d{1,3}){3}$/.test(host)
  );
}

/**
 * With no key set and a base URL on this machine (a `gembed serve`), a {@link MissingApiKeyError}
 * that says what a local server wants, before anything is sent. gembed never makes up a key:
 * one that reached a server started with `--api-key` would be refused with a message about a
 * key the user never gave.
 */
export function checkLocalServerKey(baseUrl: string | undefined): void {
  checkBaseUrlEnvironment(baseUrl);
  const url = baseUrl ?? process.env.GOOGLE_GEMINI_BASE_URL;
  const keySet = ["GOOGLE_API_KEY", "GEMINI_API_KEY"].some(
    (name) => (process.env[name] ?? "").trim().length > 0,
  );
  if (url === undefined || keySet || !isLoopbackUrl(url)) return;
  throw new MissingApiKeyError(
    `No Gemini API key: set the GEMINI_API_KEY or GOOGLE_API_KEY environment variable. ${url} is on this machine: a \`gembed serve\` started without --api-key takes any value (export GEMINI_API_KEY=local), one started with --api-key K wants K.`,
  );
}

/** Builds the embedding function of the shared options. */
export function embeddingFunctionFrom(
  options: EmbeddingCliOptions,
  extra: { apiKey?: string; baseUrl?: string } = {},
): GeminiEmbeddingFunction {
  const baseUrl = extra.baseUrl ?? options.baseUrl;
  const apiKey = extra.apiKey;
  if (apiKey === undefined) checkLocalServerKey(baseUrl);
  else checkBaseUrlEnvironment(baseUrl);
  return withFlagNames(
    () =>
      new GeminiEmbeddingFunction({
        modelName: options.model,
        config: { outputDimensionality: options.dim },
        baseUrl,
        apiKey,
        concurrency: options.concurrency,
        onInputTooLong: tooLongWarning(options.model),
        // A wait for quota or a retry shows at once (on the progress bar when one is drawn).
        onWait: (wait) => showWait(wait),
      }),
  );
}

/** The library's option names and the flags that set them. */
const FLAG_OF_OPTION: Readonly<Record<string, string>> = {
  "config.outputDimensionality": "--dim",
  modelName: "--model",
  model: "--model",
};

/**
 * Runs `build` (a `GeminiEmbeddingFunction` made from flags); an {@link InvalidOptionError} of an
 * option a flag set becomes a {@link UsageError} naming the flag: `--dim must be an integer from
 * 128 to 3072, got 5`, not the library's `config.outputDimensionality must be …`.
 */
export function withFlagNames<T>(build: () => T): T {
  try {
    return build();
  } catch (error) {
    const flag = error instanceof InvalidOptionError ? FLAG_OF_OPTION[error.option] : undefined;
    if (flag === undefined) throw error;
    const option = (error as InvalidOptionError).option;
    const message = (error as Error).message.split(option).join(flag);
    throw new UsageError(message.includes(flag) ? message : `${flag}: ${message}`, {
      cause: error,
    });
  }
}

/**
 * One `gembed: warning:` line per text over the model's input limit (the first 10, then a count),
 * instead of Node's process-warning format with its `--trace-warnings` hint.
 */
function tooLongWarning(model: string): (info: InputTooLongInfo) => void {
  let told = 0;
  return (info) => {
    told++;
    if (told <= 10) {
      process.stderr.write(
        `gembed: warning: text #${info.index} is about ${info.tokens} tokens, over the ${info.limit}-token input limit of ${model}: the API embeds only its beginning\n`,
      );
    } else if (told === 11) {
      process.stderr.write("gembed: warning: more texts over the input limit (not listed)\n");
    }
  };
}

/** Aborts on the first Ctrl-C (the second one ends the process at once). */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(
      "gembed: interrupted, keeping what is written (Ctrl-C again to quit at once)\n",
    );
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    dispose() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
