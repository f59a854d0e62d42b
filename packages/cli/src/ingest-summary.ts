/**
 * What both ingest paths print at the end, in one place. Two different things were both called
 * "skipped": chunks found unchanged (not embedded again) and bad files left out by `--skip-bad`.
 * Chunks are now `unchanged` everywhere (the line and `--json`); "skipped" is only said of files.
 *
 * @module
 */

import type { IngestSummary, SourceIssue } from "@gembed/ingest";

/** What `--json` prints: `unchanged` counts chunks; `skippedFiles` lists the bad files left out. */
export interface IngestSummaryJson extends Omit<IngestSummary, "skipped"> {
  unchanged: number;
  pruned?: number;
  skippedFiles?: SourceIssue[];
  target: string;
}

/** Writes the summary line (and the files skipped) or, with `json`, one JSON object. */
export function writeIngestSummary(
  summary: IngestSummary & { pruned?: number },
  options: { skippedFiles: SourceIssue[]; skipBad: boolean; json: boolean; target: string },
): void {
  const { skippedFiles, target } = options;
  if (options.json) {
    const { skipped, ...rest } = summary;
    const output: IngestSummaryJson = { ...rest, unchanged: skipped, target };
    if (options.skipBad) output.skippedFiles = skippedFiles;
    // `target` last, as before.
    const { target: _target, ...fields } = output;
    process.stdout.write(`${JSON.stringify({ ...fields, target })}\n`);
    return;
  }
  process.stdout.write(
    `ingested ${summary.documents} document(s): ${summary.chunks} chunk(s), ${summary.skipped} unchanged, ${summary.embedded} embedded${summary.updated > 0 ? `, ${summary.updated} metadata-only (not embedded)` : ""}${summary.reused > 0 ? `, ${summary.reused} kept from an earlier run` : ""}, ${summary.written} written, ${summary.removed} removed${summary.pruned !== undefined ? `, ${summary.pruned} pruned` : ""}${skippedFiles.length > 0 ? `, ${skippedFiles.length} bad file(s) skipped` : ""} -> ${target}\n`,
  );
  for (const issue of skippedFiles)
    process.stdout.write(`  skipped ${issue.source}: ${issue.reason}\n`);
}

/**
 * The document ids `--prune` keeps: those read this run, and those of files skipped as bad
 * (present, so their rows stay: a file skipped because `--encoding latin1` was forgotten must not
 * lose its rows). Prune removes only what is gone, excluded or ignored.
 */
export function keptByPrune(
  documents: readonly { id: string }[],
  skippedFiles: readonly SourceIssue[],
): Set<string> {
  const kept = new Set(documents.map((document) => document.id));
  for (const issue of skippedFiles) kept.add(issue.source);
  return kept;
}
