import { GembedError } from "gembed";

/** One problem with one source (a file, a JSONL line). */
export interface SourceIssue {
  /** The file (and line, `rows.jsonl:12`) where the problem is. */
  source: string;
  /** What is wrong. */
  reason: string;
}

/**
 * Sources that cannot be ingested (a missing file, a JSONL line that is not `{id, text}`, two
 * documents with one id), found before any embedding is paid for; `issues` names every one.
 */
export class SourceError extends GembedError {
  override name = "SourceError";
  readonly issues: SourceIssue[];
  constructor(issues: SourceIssue[]) {
    const shown = issues
      .slice(0, 10)
      .map((issue) => `${issue.source}: ${issue.reason}`)
      .join("; ");
    const more = issues.length > 10 ? ` (and ${issues.length - 10} more)` : "";
    super(`${issues.length} source problem(s): ${shown}${more}`);
    this.issues = issues;
  }
}

/** The local rows file is not one gembed can read or extend (another dim, model or shape). */
export class RowsFileError extends GembedError {
  override name = "RowsFileError";
}
