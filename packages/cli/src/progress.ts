/**
 * Progress display of long commands: a bar with rate and ETA on a terminal (cli-progress), plain
 * lines at most once a second otherwise (logs, CI, pipes).
 *
 * @module
 */

import cliProgress from "cli-progress";

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** What is counted, e.g. `chunks`. */
  unit: string;
  /** Shown before the bar or line, e.g. `ingest`. */
  label: string;
  /**
   * Where to draw.
   * @default process.stderr
   */
  stream?: NodeJS.WriteStream;
  /**
   * Draw a bar (true) or plain lines (false).
   * @default stream.isTTY
   */
  tty?: boolean;
  /**
   * Least time between two plain lines, ms.
   * @default 1000
   */
  lineIntervalMs?: number;
}

/** A running display. */
export interface Progress {
  /** Sets the count (and the total, when it changed) and a short note, e.g. `skipped 3`. */
  update(done: number, total: number, note?: string): void;
  /** Draws the last state and stops. */
  stop(): void;
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(Math.round(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

/**
 * Starts a progress display.
 *
 * @example
 * ```ts
 * const progress = createProgress({ label: "ingest", unit: "chunks" });
 * progress.update(10, 100, "skipped 0");
 * progress.stop();
 * ```
 */
export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? stream.isTTY === true;
  const started = Date.now();
  let firstDone: number | undefined;
  if (tty) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${options.label} [{bar}] {value}/{total} ${options.unit} | {rate}/s | ETA {eta_formatted} {note}`,
        hideCursor: true,
        etaBuffer: 20,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    let begun = false;
    return {
      update(done, total, note = "") {
        firstDone ??= done;
        const seconds = (Date.now() - started) / 1000;
        const rate = seconds > 0 ? ((done - firstDone) / seconds).toFixed(1) : "0";
        if (!begun) {
          bar.start(total, done, { rate, note });
          begun = true;
        } else {
          bar.setTotal(total);
          bar.update(done, { rate, note });
        }
      },
      stop() {
        if (begun) bar.stop();
      },
    };
  }
  const interval = options.lineIntervalMs ?? 1000;
  let lastLine = 0;
  let last: { done: number; total: number; note: string } | undefined;
  let printed: typeof last;
  const print = () => {
    if (!last || last === printed) return;
    printed = last;
    const seconds = (Date.now() - started) / 1000;
    const rate = seconds > 0 ? (last.done - (firstDone ?? 0)) / seconds : 0;
    const eta =
      last.done >= last.total
        ? "0s"
        : rate > 0
          ? formatSeconds((last.total - last.done) / rate)
          : "?";
    stream.write(
      `${options.label}: ${last.done}/${last.total} ${options.unit}${last.note ? ` (${last.note})` : ""}, ${rate.toFixed(1)}/s, ETA ${eta}\n`,
    );
  };
  return {
    update(done, total, note = "") {
      firstDone ??= done;
      last = { done, total, note };
      const now = Date.now();
      if (now - lastLine >= interval || done >= total) {
        lastLine = now;
        print();
      }
    },
    stop() {
      print();
    },
  };
}
