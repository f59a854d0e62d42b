/**
 * The `gembed` program: every sub-command wired onto one commander `Command`. Each sub-command
 * lives in `./commands/<name>.ts` and exports a `register…Command(program)` function. `main.ts`
 * runs it as the command; the tests run it in their own process.
 */

import { readFileSync } from "node:fs";
import { Command } from "commander";
import { registerBatchCommand } from "./commands/batch.js";
import { registerDemoCommand } from "./commands/demo.js";
import { registerEmbedCommand } from "./commands/embed.js";
import { registerIngestCommand } from "./commands/ingest.js";
import { registerSearchCommand } from "./commands/search.js";
import { registerServeCommand } from "./commands/serve.js";

/** A fresh `gembed` program (commander keeps parse state, so one per run). */
export function createProgram(): Command {
  const program = new Command();
  program
    .name("gembed")
    .description(
      "Gemini text embeddings for Milvus: embed, ingest, search, batch jobs, local server",
    )
    .option("--debug", "print stack traces on errors")
    // package.json is one folder up from both src/program.ts and dist/program.js.
    .version(
      (
        JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
          version: string;
        }
      ).version,
      "-v, --version",
      "print gembed's version",
    );

  // The README promises examples in every --help, the program's own included.
  program.addHelpText(
    "after",
    `
Examples:
  $ gembed demo                                        # the quick start, no key needed
  $ gembed serve --port 8080                           # a local Gemini-compatible server
  $ gembed embed "hello world" --dim 768 --json
  $ gembed ingest ./docs --out rows.json && gembed search "when was AI founded" --file rows.json
  $ job=$(gembed batch submit corpus.jsonl) && gembed batch wait "$job" && gembed batch collect "$job" > vectors.jsonl

The API key comes from GEMINI_API_KEY or GOOGLE_API_KEY (never a flag).
Run "gembed <command> --help" for each command's options and examples.
Exit codes: 0 ok, 1 failure, 2 bad usage or input, 130 interrupted.`,
  );

  // Sub-commands register themselves here, one line each.
  registerBatchCommand(program);
  registerEmbedCommand(program);
  registerIngestCommand(program);
  registerSearchCommand(program);
  registerDemoCommand(program);
  registerServeCommand(program);
  return program;
}
