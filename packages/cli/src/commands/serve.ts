/**
 * `gembed serve`: runs the local Gemini-compatible embeddings server until SIGINT/SIGTERM.
 * Every flag can also come from the environment (`GEMBED_SERVE_<FLAG>`, e.g.
 * `GEMBED_SERVE_FAULT_503=0.1`); a flag wins over the environment.
 *
 * @module
 */

import type { ServerOptions } from "@gembed/server";
import { type Command, InvalidArgumentError, Option } from "commander";
import { UsageError } from "../errors.js";

interface ServeFlags {
  port?: number;
  host?: string;
  dataDir?: string;
  apiKey?: string[] | string;
  quotaTier?: "free" | "tier1" | "tier2";
  textsPerMinute?: number;
  tokensPerMinute?: number;
  textsPerDay?: number;
  quotaWindowMs?: number;
  fault500?: number;
  fault503?: number;
  faultDrop?: number;
  faultShort?: number;
  latencyMs?: number;
  latencyPerTextMs?: number;
  faultSeed?: number;
  batchDelayMs?: number;
  jobLifetimeMs?: number;
  fileLifetimeMs?: number;
  batchConcurrency?: number;
  bodyLimit?: number;
  logLevel?: string;
}

/** The real tiers' quotas (free tier marked unverified in the API page). */
const TIERS = {
  free: { textsPerMinute: 100, tokensPerMinute: 30_000, textsPerDay: 1_000 },
  tier1: { textsPerMinute: 3_000, tokensPerMinute: 1_000_000 },
  tier2: { textsPerMinute: 5_000, tokensPerMinute: 5_000_000 },
} as const;

function numberParser(minimum: number, maximum: number, integer: boolean) {
  return (value: string): number => {
    const number = Number(value);
    if (value.trim() === "" || Number.isNaN(number)) {
      throw new InvalidArgumentError("not a number.");
    }
    if (integer && !Number.isInteger(number)) throw new InvalidArgumentError("not an integer.");
    if (number < minimum || number > maximum) {
      throw new InvalidArgumentError(`must be between ${minimum} and ${maximum}.`);
    }
    return number;
  };
}

const rate = numberParser(0, 1, false);
const count = numberParser(1, Number.MAX_SAFE_INTEGER, true);
const milliseconds = numberParser(0, Number.MAX_SAFE_INTEGER, false);

/** Registers `gembed serve`. */
export function registerServeCommand(program: Command): void {
  const env = (name: string) => `GEMBED_SERVE_${name}`;
  const command = program
    .command("serve")
    .description("run a local Gemini-compatible embeddings server (offline development and tests)")
    .addOption(
      new Option("--port <n>", "TCP port; 0 picks a free one")
        .argParser(numberParser(0, 65535, true))
        .env(env("PORT"))
        .default(0),
    )
    .addOption(
      new Option("--host <host>", "interface to listen on").env(env("HOST")).default("127.0.0.1"),
    )
    .addOption(
      new Option(
        "--data-dir <folder>",
        "folder of batch jobs and files (default: a temporary folder)",
      ).env(env("DATA_DIR")),
    )
    .addOption(
      new Option(
        "--api-key <key...>",
        "accept only these keys (repeat the flag, or a comma list in GEMBED_SERVE_API_KEYS)",
      ).env(env("API_KEYS")),
    )
    .addOption(
      new Option("--quota-tier <tier>", "quotas of a real tier")
        .choices(["free", "tier1", "tier2"])
        .env(env("QUOTA_TIER")),
    )
    .addOption(
      new Option("--texts-per-minute <n>", "quota: texts per minute, per model")
        .argParser(count)
        .env(env("TEXTS_PER_MINUTE")),
    )
    .addOption(
      new Option("--tokens-per-minute <n>", "quota: input tokens per minute")
        .argParser(count)
        .env(env("TOKENS_PER_MINUTE")),
    )
    .addOption(
      new Option("--texts-per-day <n>", "quota: texts per day")
        .argParser(count)
        .env(env("TEXTS_PER_DAY")),
    )
    .addOption(
      new Option("--quota-window-ms <ms>", "length of the quota 'minute'")
        .argParser(numberParser(1, Number.MAX_SAFE_INTEGER, false))
        .env(env("QUOTA_WINDOW_MS")),
    )
    .addOption(
      new Option("--fault-500 <rate>", "share of embedding requests answered 500")
        .argParser(rate)
        .env(env("FAULT_500")),
    )
    .addOption(
      new Option("--fault-503 <rate>", "share answered 503").argParser(rate).env(env("FAULT_503")),
    )
    .addOption(
      new Option("--fault-drop <rate>", "share whose connection is dropped")
        .argParser(rate)
        .env(env("FAULT_DROP")),
    )
    .addOption(
      new Option("--fault-short <rate>", "share of batch answers missing one embedding")
        .argParser(rate)
        .env(env("FAULT_SHORT")),
    )
    .addOption(
      new Option("--latency-ms <ms>", "latency added to each embedding request")
        .argParser(milliseconds)
        .env(env("LATENCY_MS")),
    )
    .addOption(
      new Option("--latency-per-text-ms <ms>", "latency added per text")
        .argParser(milliseconds)
        .env(env("LATENCY_PER_TEXT_MS")),
    )
    .addOption(
      new Option("--fault-seed <n>", "seed of the fault dice")
        .argParser(numberParser(0, 2 ** 32 - 1, true))
        .env(env("FAULT_SEED")),
    )
    .addOption(
      new Option("--batch-delay-ms <ms>", "processing time per batch item")
        .argParser(milliseconds)
        .env(env("BATCH_DELAY_MS")),
    )
    .addOption(
      new Option("--job-lifetime-ms <ms>", "batch jobs expire after this (default 48 h)")
        .argParser(count)
        .env(env("JOB_LIFETIME_MS")),
    )
    .addOption(
      new Option("--file-lifetime-ms <ms>", "files expire after this (default 48 h)")
        .argParser(count)
        .env(env("FILE_LIFETIME_MS")),
    )
    .addOption(
      new Option("--batch-concurrency <n>", "batch jobs run at once")
        .argParser(numberParser(1, 64, true))
        .env(env("BATCH_CONCURRENCY")),
    )
    .addOption(
      new Option("--body-limit <bytes>", "body limit of the JSON endpoints (default 4 MiB)")
        .argParser(count)
        .env(env("BODY_LIMIT")),
    )
    .addOption(
      new Option("--log-level <level>", "log level (logs go to standard error)")
        .choices(["silent", "fatal", "error", "warn", "info", "debug", "trace"])
        .env(env("LOG_LEVEL"))
        .default("info"),
    );
  command.addHelpText(
    "after",
    `
Examples:
  $ gembed serve --port 8080 --data-dir ./gembed-data
  $ gembed serve --api-key test-key --quota-tier free --fault-503 0.05
  $ GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:8080 gembed embed "hello"

The vectors come from a deterministic local model: they stand in for Gemini's and must never be
mixed with real Gemini vectors in one collection. See docs/local-server.md.`,
  );
  command.action(async (flags: ServeFlags) => {
    const options = serveOptions(flags);
    // Loaded here, not at the top: the server (fastify and its plugins) is a third of the CLI's
    // start-up time (~70 ms), which every other command would pay for nothing.
    const { DataFolderError, resolveOptions, startServer } = await import("@gembed/server");
    try {
      resolveOptions(options);
    } catch (error) {
      // Options the flags could not check alone (e.g. a quota window of 0 ms): a usage error.
      if (error instanceof TypeError || error instanceof RangeError) {
        throw new UsageError(error.message);
      }
      throw error;
    }
    const server = await startServer(options).catch((error: unknown) => {
      // Node's `listen EADDRINUSE: address already in use 127.0.0.1:8080` names no option: the
      // port given cannot be used, which the user fixes on the command line (exit 2).
      const code = (error as NodeJS.ErrnoException | undefined)?.code;
      const where = `${options.host ?? "127.0.0.1"}:${options.port ?? 0}`;
      if (code === "EADDRINUSE") {
        throw new UsageError(
          `--port ${options.port}: ${where} is already in use (another gembed serve, or another program); choose another port, or --port 0 for a free one`,
          { cause: error },
        );
      }
      // A --data-dir that cannot be written is the command line's to fix, as a port in use is.
      if (error instanceof DataFolderError) throw new UsageError(error.message, { cause: error });
      if (code === "EACCES" || code === "EADDRNOTAVAIL") {
        throw new UsageError(
          `cannot listen on ${where} (${code === "EACCES" ? "permission denied: ports below 1024 need privileges" : "that address is not one of this machine's"}); choose another --port or --host`,
          { cause: error },
        );
      }
      throw error;
    });
    const warning = exposureWarning(options.host ?? "127.0.0.1", options.apiKeys);
    if (warning !== undefined) process.stderr.write(`gembed serve: warning: ${warning}\n`);
    process.stdout.write(`gembed serve listening on ${server.url}\n`);
    process.stdout.write(`data folder: ${server.dataDir}\n`);
    await new Promise<void>((resolve) => {
      const stop = (signal: NodeJS.Signals) => {
        process.stderr.write(`gembed serve: ${signal}, finishing in-flight work...\n`);
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        server.close().then(resolve, (error: unknown) => {
          process.stderr.write(`gembed serve: close failed: ${String(error)}\n`);
          process.exitCode = 1;
          resolve();
        });
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
  });
}

/**
 * A warning when the server listens beyond this machine without `--api-key`: it then takes any
 * key, so anyone who reaches the address can use it (and fill its data folder). Undefined for a
 * loopback host (`127.0.0.0/8`, `::1`, `localhost`) or when keys are required. @internal
 */
export function exposureWarning(
  host: string,
  apiKeys: readonly string[] | undefined,
): string | undefined {
  if (apiKeys !== undefined && apiKeys.length > 0) return undefined;
  const name = host.toLowerCase().replace(/^\[|\]$/g, "");
  if (name === "localhost" || name === "::1" || /^127(\.\d{1,3}){3}$/.test(name)) return undefined;
  const where =
    name === "0.0.0.0" || name === "::"
      ? `every interface (${host})`
      : `${host}, beyond this machine`;
  return `listening on ${where} without --api-key: any key is taken, so anyone who can reach it can use this server. Give --api-key <key> (or GEMBED_SERVE_API_KEYS), or --host 127.0.0.1.`;
}

/** The server options of the flags. @internal */
export function serveOptions(flags: ServeFlags): ServerOptions {
  const tier: { textsPerMinute?: number; tokensPerMinute?: number; textsPerDay?: number } =
    flags.quotaTier !== undefined ? TIERS[flags.quotaTier] : {};
  const given = typeof flags.apiKey === "string" ? [flags.apiKey] : (flags.apiKey ?? []);
  const keys = given
    .flatMap((key) => key.split(","))
    .map((key) => key.trim())
    .filter((key) => key.length > 0);
  // Options are exact (no `undefined` values): keep only the flags that were given.
  const defined = <T extends object>(object: T): { [K in keyof T]: Exclude<T[K], undefined> } =>
    Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as {
      [K in keyof T]: Exclude<T[K], undefined>;
    };
  const options: ServerOptions = defined({
    port: flags.port,
    host: flags.host,
    dataDir: flags.dataDir,
    bodyLimit: flags.bodyLimit,
    logLevel: flags.logLevel,
    logStream: process.stderr,
    quota: defined({
      textsPerMinute: flags.textsPerMinute ?? tier.textsPerMinute,
      tokensPerMinute: flags.tokensPerMinute ?? tier.tokensPerMinute,
      textsPerDay: flags.textsPerDay ?? tier.textsPerDay,
      windowMs: flags.quotaWindowMs,
    }),
    faults: defined({
      rate500: flags.fault500,
      rate503: flags.fault503,
      dropRate: flags.faultDrop,
      shortAnswerRate: flags.faultShort,
      latencyMs: flags.latencyMs,
      latencyPerTextMs: flags.latencyPerTextMs,
      seed: flags.faultSeed,
    }),
    batch: defined({
      delayPerItemMs: flags.batchDelayMs,
      jobLifetimeMs: flags.jobLifetimeMs,
      fileLifetimeMs: flags.fileLifetimeMs,
      concurrency: flags.batchConcurrency,
    }),
  });
  if (keys.length > 0) options.apiKeys = keys;
  return options;
}
