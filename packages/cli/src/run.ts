import { RowsFileError, SourceError } from "@gembed/ingest";
import { MilvusSchemaMismatchError } from "@gembed/milvus";
import { type Command, CommanderError } from "commander";
import {
  BatchStateFileError,
  EmbeddingIncompleteError,
  InvalidInputError,
  InvalidOptionError,
  MissingApiKeyError,
  RetiredModelError,
} from "gembed";
import { InterruptedError, OutputWriteError, UsageError } from "./errors.js";

/** Exit codes scripts can rely on. */
export const EXIT = {
  ok: 0,
  /** A failure at run time (API error, I/O error). */
  failure: 1,
  /**
   * Bad usage or bad input (bad option, retired model, missing file, bad JSONL line, bad filter,
   * no key, an output file or collection of another dim): gembed's usage and option errors only,
   * never a TypeError of a bug.
   */
  usage: 2,
  /** Interrupted (SIGINT). */
  interrupted: 130,
} as const;

/**
 * Runs the program, printing errors without a stack trace unless `--debug` is given.
 * Never prints an API key: gembed's errors do not contain one.
 */
export async function runCli(program: Command, argv: string[]): Promise<void> {
  // Sub-commands copy the settings only when created: set them on every one, so a bad option of
  // a sub-command ends as a usage error (exit 2), not commander's process.exit(1), and is printed
  // in gembed's one format (`gembed: UsageError: …`), not commander's own `error: …` line.
  const override = (command: Command) => {
    command.configureOutput({ outputError: () => {} });
    command.exitOverride((error) => {
      if (QUIET_EXITS.has(error.code)) throw error;
      throw commandLineError(command, error);
    });
    for (const child of command.commands) override(child);
  };
  override(program);
  // Once per process, however many runs (the tests run the program many times in one process).
  process.stdout.off("error", exitOnClosedPipe).on("error", exitOnClosedPipe);
  try {
    await program.parseAsync(helpAsFlag(program, argv));
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    const debug = program.opts<{ debug?: boolean }>().debug === true;
    // Work stopped by a usage problem (no key, bad input) or by Ctrl-C exits as that problem.
    const decisive =
      error instanceof EmbeddingIncompleteError && exitCodeOf(error.cause) !== EXIT.failure
        ? error.cause
        : error;
    // When nothing was embedded, the cause is the whole story: "AuthenticationError: API key not
    // valid…", not "EmbeddingIncompleteError: Embedded 0 of 3 texts; 3 missing. Stopped by: …".
    const shown =
      error instanceof EmbeddingIncompleteError &&
      error.cause !== undefined &&
      error.vectors.every((vector) => vector === undefined)
        ? error.cause
        : decisive;
    process.stderr.write(`gembed: ${describe(shown)}\n`);
    if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    process.exitCode = exitCodeOf(decisive);
  }
}

/**
 * `gembed help batch submit` as `gembed batch submit --help`: commander's own help command reads
 * only its first word, so it showed `batch`'s help. The words after `help` that name a command
 * (then a sub-command of it, and so on) are kept; the program's own options before `help`
 * (`--debug`) take no value, so the first word that is not an option is the command.
 */
function helpAsFlag(program: Command, argv: string[]): string[] {
  const start = argv.findIndex((word, index) => index >= 2 && !word.startsWith("-"));
  if (start < 0 || argv[start] !== "help") return argv;
  const words: string[] = [];
  let command: Command | undefined = program;
  for (const word of argv.slice(start + 1)) {
    const child: Command | undefined = command?.commands.find(
      (candidate) => candidate.name() === word || candidate.aliases().includes(word),
    );
    if (child === undefined) break;
    words.push(word);
    command = child;
  }
  if (words.length < 2) return argv;
  return [...argv.slice(0, start), ...words, "--help"];
}

/**
 * Commander's exits that are not errors (help asked for, the version) or whose output is the
 * help itself (`gembed batch` with no sub-command): they end as they are, nothing more printed.
 */
const QUIET_EXITS = new Set([
  "commander.helpDisplayed",
  "commander.version",
  "commander.help",
  "commander.executeSubCommandAsync",
]);

/**
 * A command-line mistake commander found (unknown option or command, missing argument, bad
 * value), as gembed's {@link UsageError}: one line, without commander's `error: ` prefix, its
 * suggestion on the same line, and the help that lists what is allowed.
 */
function commandLineError(command: Command, error: CommanderError): UsageError {
  const path: string[] = [];
  for (let current: Command | null = command; current !== null; current = current.parent) {
    path.unshift(current.name());
  }
  const message = error.message
    .replace(/^error: /, "")
    .replace(/\.$/, "")
    .replace(/\n\(Did you mean (.*)\)$/s, " (did you mean $1)")
    .replace(/\s*\n\s*/g, " ");
  return new UsageError(`${message}; see \`${path.join(" ")} --help\``, { cause: error });
}

/**
 * `gembed … | head` closes the pipe early: that is the reader's choice, not an error. Any other
 * failure of standard output (`> file` on a full disk, over `ulimit -f`) is one line naming it and
 * exit 1, not an uncaught exception's stack trace: the output cannot be finished, so the process
 * ends here.
 */
function exitOnClosedPipe(error: NodeJS.ErrnoException): void {
  if (error.code === "EPIPE") process.exit(EXIT.ok);
  const failure = new OutputWriteError(
    "standard output",
    error.code ?? "EIO",
    "what was printed before is incomplete",
    error,
  );
  process.stderr.write(`gembed: ${describe(failure)}\n`);
  process.exit(EXIT.failure);
}

/** One line for an error: a deliberate interrupt says what was kept, others name their class. */
function describe(error: unknown): string {
  if (error instanceof InterruptedError) return error.message;
  if (isAbort(error)) return "interrupted (Ctrl-C); nothing was left half-written.";
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function isAbort(error: unknown): boolean {
  // gembed's GembedAbortError and the platform's DOMException both say "AbortError".
  return error instanceof Error && error.name === "AbortError";
}

/**
 * Exit code 2 for usage problems only: gembed's option and input errors. A TypeError, RangeError
 * or SyntaxError of any other kind is a bug (or a failure) and exits 1, so a script never takes a
 * crash for its own mistake. An output that does not fit the run (a rows file or a Milvus
 * collection of another dim or model, or without gembed's schema) is input the run cannot use,
 * found before anything is sent: 2 whichever the output, since no retry can help and the fix is
 * in the command (another `--dim`, `--out` or `--collection`).
 */
function exitCodeOf(error: unknown): number {
  return error instanceof InvalidOptionError ||
    error instanceof UsageError ||
    error instanceof InvalidInputError ||
    error instanceof MissingApiKeyError ||
    error instanceof RetiredModelError ||
    error instanceof SourceError ||
    error instanceof RowsFileError ||
    error instanceof MilvusSchemaMismatchError ||
    error instanceof BatchStateFileError
    ? EXIT.usage
    : isAbort(error)
      ? EXIT.interrupted
      : EXIT.failure;
}
