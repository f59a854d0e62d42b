#!/usr/bin/env node
/**
 * The `gembed` command: the program of `./program.ts`, run on this process's arguments, with
 * errors mapped to exit codes (see `./run.ts`).
 */

import { createProgram } from "./program.js";
import { runCli } from "./run.js";

await runCli(createProgram(), process.argv);
