#!/usr/bin/env node
/**
 * The `gembed` command. Each sub-command lives in `./commands/<name>.ts` and exports a
 * `register…Command(program)` function; this file only wires them together and maps errors to
 * exit codes (see `./run.ts`).
 */

import { Command } from "commander";
import { registerBatchCommand } from "./commands/batch.js";
import { registerServeCommand } from "./commands/serve.js";
import { runCli } from "./run.js";

const program = new Command();
program
  .name("gembed")
  .description("Gemini text embeddings for Milvus: embed, ingest, search, batch jobs, local server")
  .option("--debug", "print stack traces on errors");

// Sub-commands register themselves here, one line each.
registerBatchCommand(program);
registerServeCommand(program);

await runCli(program, process.argv);
