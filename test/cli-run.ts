/**
 * Runs the `gembed` command for the CLI tests: in this process (`runCli`: the program's own
 * argument parsing, exit codes and output, without starting Node and tsx for every call), or as a
 * child process (`spawnCli`: the TypeScript source through tsx) where a real process is the point
 * (signals, the bin itself).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { Readable } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createProgram } from "@gembed/cli";
import { runCli as runProgram } from "../packages/cli/src/run.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const tsxLoader = pathToFileURL(`${root}node_modules/tsx/dist/loader.mjs`).href;
const main = `${root}packages/cli/src/main.ts`;

/** What a finished run gave. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Environment without any API key or Milvus setting of the machine running the tests. */
export function cleanEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const environment = { ...process.env };
  for (const name of [
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "MILVUS_URI",
    "MILVUS_TOKEN",
  ]) {
    delete environment[name];
  }
  return { ...environment, NO_COLOR: "1", ...extra };
}

/**
 * Starts `gembed <args>`; the caller may kill it. `stdout`, a file descriptor, is the child's
 * standard output instead of a pipe (then `stdout` of the result stays empty). With `openInput`,
 * standard input stays open: the caller writes it (`child.stdin`) and ends it.
 */
export function spawnCli(
  args: string[],
  options: {
    cwd: string;
    env: NodeJS.ProcessEnv;
    input?: string;
    stdout?: number;
    openInput?: boolean;
  },
): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(
    process.execPath,
    ["--conditions=@gembed/source", "--import", tsxLoader, main, ...args],
    {
      cwd: options.cwd,
      env: options.env,
      stdio: ["pipe", options.stdout ?? "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (part: string) => {
    stdout += part;
  });
  child.stderr!.setEncoding("utf8").on("data", (part: string) => {
    stderr += part;
  });
  if (options.openInput !== true) child.stdin!.end(options.input ?? "");
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/**
 * Runs `gembed <args>` to the end inside this process, as a child would run: `env` is the whole
 * environment, `cwd` the working folder, `input` the standard input (text, or bytes); standard output and error
 * are captured and the exit code read from `process.exitCode`. Every one of these is restored
 * afterwards. The runs of one test file are sequential, so they never share these globals.
 */
export function runCli(
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; input?: string | Uint8Array },
): Promise<CliResult> {
  // One run at a time: a run swaps the process's env, cwd and standard streams, so two at once
  // (a test's Promise.all) would write into each other's output and restore the wrong folder.
  const run = queue.then(() => runCliNow(args, options));
  queue = run.then(
    () => undefined,
    () => undefined,
  );
  return run;
}

let queue: Promise<void> = Promise.resolve();

async function runCliNow(
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; input?: string | Uint8Array },
): Promise<CliResult> {
  const saved = {
    env: process.env,
    cwd: process.cwd(),
    exitCode: process.exitCode,
    stdoutWrite: process.stdout.write,
    stderrWrite: process.stderr.write,
    stdin: Object.getOwnPropertyDescriptor(process, "stdin"),
  };
  let stdout = "";
  let stderr = "";
  const capture = (append: (text: string) => void) =>
    ((chunk: string | Uint8Array, encoding?: unknown, callback?: unknown) => {
      append(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
      const done = typeof encoding === "function" ? encoding : callback;
      if (typeof done === "function") done();
      return true;
    }) as typeof process.stdout.write;
  process.env = { ...options.env };
  process.chdir(options.cwd);
  process.exitCode = undefined;
  process.stdout.write = capture((text) => {
    stdout += text;
  });
  process.stderr.write = capture((text) => {
    stderr += text;
  });
  Object.defineProperty(process, "stdin", {
    configurable: true,
    value: Readable.from([
      typeof options.input === "string" || options.input === undefined
        ? Buffer.from(options.input ?? "")
        : Buffer.from(options.input),
    ]),
  });
  try {
    await runProgram(createProgram(), [process.execPath, "gembed", ...args]);
    return { code: Number(process.exitCode ?? 0), signal: null, stdout, stderr };
  } finally {
    process.stdout.write = saved.stdoutWrite;
    process.stderr.write = saved.stderrWrite;
    if (saved.stdin) Object.defineProperty(process, "stdin", saved.stdin);
    process.exitCode = saved.exitCode;
    process.chdir(saved.cwd);
    process.env = saved.env;
  }
}
