/**
 * Progress display of long commands: a bar with rate and ETA on a terminal (cli-progress), plain
 * lines at most once a second otherwise (logs, CI, pipes). A wait (for quota, or backing off
 * after a failure) shows as "waiting for quota, resuming in 41 s" instead of a frozen ETA, and
 * counts down.
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
  stream?: NodeJS.WriteStream | undefined;
  /**
   * Draw a bar (true) or plain lines (false).
   * @default stream.isTTY
   */
  tty?: boolean | undefined;
  /**
   * Least time between two plain lines, ms.
   * @default 1000
   */
  lineIntervalMs?: number | undefined;
}

/** A wait of the work, as the embedding function tells it (`onWait`, or `onProgress`). */
export interface ProgressWait {
  /** `waiting-for-quota` or `backing-off`. */
  state: string;
  /** When the work goes on, in ms since the epoch. */
  resumeAt: number;
  /** Why, in a few words. */
  reason?: string;
}

/** A running display. */
export interface Progress {
  /** Sets the count (and the total, when it changed) and a short note, e.g. `skipped 3`. */
  update(done: number, total: number, note?: string): void;
  /** Shows a wait until `resumeAt` (or the next `update`), counting down. */
  wait(wait: ProgressWait): void;
  /** Draws the last state and stops. */
  stop(): void;
}

/**
 * A wait in words: `waiting for quota, resuming in 41 s`, or `connection refused
 * (ECONNREFUSED); retry 1 of 6, resuming in 2 s`.
 */
export function describeWait(wait: ProgressWait, now = Date.now()): string {
  const seconds = Math.max(0, Math.ceil((wait.resumeAt - now) / 1000));
  const what =
    wait.state === "waiting-for-quota"
      ? "waiting for quota"
      : `backing off${wait.reason ? ` after ${wait.reason}` : ""}`;
  return `${what}, resuming in ${seconds} s`;
}

/** The display drawing now, which waits told by {@link showWait} go to. */
let active: Progress | undefined;

/**
 * Shows a wait of the embedding work: on the display drawing now, else as one line on stderr
 * (`gembed: waiting for quota, resuming in 41 s`), so a wait is never silent.
 */
export function showWait(wait: ProgressWait, stream: NodeJS.WritableStream = process.stderr): void {
  if (active !== undefined) {
    active.wait(wait);
    return;
  }
  stream.write(`gembed: ${describeWait(wait)}\n`);
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(Math.round(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

/**
 * A unit for a progress counted in bytes (`gembed ingest`'s): MB (to 0.1) from 1 MB of files up,
 * KB (to 0.1) below, and bytes under 1 KB, so a small corpus does not read "0/0 MB". The size of
 * standard input is not known beforehand: with it, at least KB.
 */
export function byteScale(
  totalBytes: number,
  stdin: boolean,
): { unit: string; of: (bytes: number) => number } {
  const tenths = (size: number) => (bytes: number) => Math.round((bytes / size) * 10) / 10;
  if (totalBytes >= 1024 * 1024) return { unit: "MB", of: tenths(1024 * 1024) };
  if (totalBytes >= 1024 || stdin) return { unit: "KB", of: tenths(1024) };
  return { unit: "bytes", of: (bytes) => bytes };
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
    let last = { done: 0, total: 0, note: "" };
    let waiting: ProgressWait | undefined;
    let ticker: ReturnType<typeof setInterval> | undefined;
    const draw = (): void => {
      const seconds = (Date.now() - started) / 1000;
      const rate = seconds > 0 ? ((last.done - (firstDone ?? 0)) / seconds).toFixed(1) : "0";
      if (waiting !== undefined && Date.now() >= waiting.resumeAt) stopWaiting();
      const note =
        waiting === undefined ? last.note : `${last.note} ${describeWait(waiting)}`.trim();
      if (!begun) {
        bar.start(last.total, last.done, { rate, note });
        begun = true;
      } else {
        bar.setTotal(last.total);
        bar.update(last.done, { rate, note });
      }
    };
    const stopWaiting = (): void => {
      waiting = undefined;
      if (ticker !== undefined) clearInterval(ticker);
      ticker = undefined;
    };
    const display: Progress = {
      update(done, total, note = "") {
        firstDone ??= done;
        last = { done, total, note };
        if (done > 0) stopWaiting();
        draw();
      },
      wait(wait) {
        waiting = wait;
        // Counts down once a second while nothing else redraws.
        ticker ??= setInterval(draw, 1000);
        ticker.unref?.();
        draw();
      },
      stop() {
        stopWaiting();
        if (begun) bar.stop();
        if (active === display) active = undefined;
      },
    };
    active = display;
    return display;
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
  let lastWait: ProgressWait | undefined;
  const display: Progress = {
    update(done, total, note = "") {
      firstDone ??= done;
      last = { done, total, note };
      const now = Date.now();
      if (now - lastLine >= interval || done >= total) {
        lastLine = now;
        print();
      }
    },
    wait(wait) {
      // One line per wait (not per chunk that waits for the same room).
      if (
        lastWait !== undefined &&
        lastWait.state === wait.state &&
        Math.abs(lastWait.resumeAt - wait.resumeAt) < 1000 &&
        Date.now() < lastWait.resumeAt
      ) {
        return;
      }
      lastWait = wait;
      stream.write(
        `${options.label}: ${last ? `${last.done}/${last.total} ${options.unit}, ` : ""}${describeWait(wait)}\n`,
      );
    },
    stop() {
      print();
      if (active === display) active = undefined;
    },
  };
  active = display;
  return display;
}
