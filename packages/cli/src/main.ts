#!/usr/bin/env node
/**
 * The `gembed` command. Each sub-command lives in `./commands/<name>.ts` and exports a
 * `register…Command(program)` function; this file only wires them together and maps errors to
 * exit codes (see `./run.ts`).
 */

import { Command } from "commander";
import { registerBatchCommand } from "./commands/batch.js";
import { registerDemoCommand } from "./commands/demo.js";
import { registerEmbedCommand } from "./commands/embed.js";
import { registerIngestCommand } from "./commands/ingest.js";
import { registerSearchCommand } from "./commands/search.js";
import { registerServeCommand } from "./commands/serve.js";
import { runCli } from "./run.js";

const program = new Command();
program
  .name("gembed")
  .description("Gemini text embeddings for Milvus: embed, ingest, search, batch jobs, local server")
  .option("--debug", "print stack traces on errors");

// Sub-commands register themselves here, one line each.
registerBatchCommand(program);
registerEmbedCommand(program);
registerIngestCommand(program);
registerSearchCommand(program);
registerDemoCommand(program);
registerServeCommand(program);

await runCli(program, process.argv);
