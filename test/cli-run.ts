/**
 * Runs the `gembed` command as a child process (the TypeScript source through tsx), for the
 * end-to-end CLI tests.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";

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

/** Starts `gembed <args>`; the caller may kill it. */
export function spawnCli(
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; input?: string },
): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(
    process.execPath,
    ["--conditions=@gembed/source", "--import", tsxLoader, main, ...args],
    {
      cwd: options.cwd,
      env: options.env,
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (part: string) => {
    stdout += part;
  });
  child.stderr!.setEncoding("utf8").on("data", (part: string) => {
    stderr += part;
  });
  child.stdin!.end(options.input ?? "");
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** Runs `gembed <args>` to the end. */
export function runCli(
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; input?: string },
): Promise<CliResult> {
  return spawnCli(args, options).done;
}
