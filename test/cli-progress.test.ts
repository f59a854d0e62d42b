import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createProgress, describeWait, showWait } from "../packages/cli/src/progress.js";

/** A stream that keeps what is written; `isTTY` says whether it plays a terminal. */
function capture(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  let text = "";
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      text += String(chunk);
      callback();
    },
  }) as unknown as NodeJS.WriteStream & { isTTY: boolean; columns: number };
  stream.isTTY = isTTY;
  stream.columns = 120;
  return { stream, text: () => text };
}

describe("createProgress", () => {
  it("draws a bar with count, rate and ETA on a terminal", () => {
    const { stream, text } = capture(true);
    const progress = createProgress({ label: "ingest", unit: "chunks", stream });
    progress.update(0, 200, "skipped 0");
    progress.update(50, 200, "skipped 0");
    progress.stop();
    const drawn = text();
    expect(drawn).toMatch(/ingest \[[^\]]+\] 50\/200 chunks \| [\d.]+\/s \| ETA \S+ skipped 0/);
  });

  it("prints plain lines with rate and ETA elsewhere, at most one per interval, and the last one", () => {
    const { stream, text } = capture(false);
    const progress = createProgress({
      label: "ingest",
      unit: "chunks",
      stream,
      lineIntervalMs: 60_000,
    });
    progress.update(0, 300);
    for (let done = 1; done < 300; done++) progress.update(done, 300, "skipped 0");
    progress.update(300, 300, "skipped 0");
    progress.stop();
    const lines = text().trim().split("\n");
    // The first update, then nothing until the interval or the end: the end.
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^ingest: 0\/300 chunks, [\d.]+\/s, ETA \S+$/);
    expect(lines[1]).toMatch(/^ingest: 300\/300 chunks \(skipped 0\), [\d.]+\/s, ETA 0s$/);
    expect(text()).not.toContain("\u001b[");
  });

  it("shows a wait for quota with when it resumes, instead of a frozen count", () => {
    const { stream, text } = capture(false);
    const progress = createProgress({ label: "ingest", unit: "chunks", stream });
    progress.update(0, 160);
    const resumeAt = Date.now() + 40_500;
    showWait({ state: "waiting-for-quota", resumeAt, reason: "quota" });
    // The same wait told by several chunks is one line.
    showWait({ state: "waiting-for-quota", resumeAt: resumeAt + 10, reason: "quota" });
    progress.stop();
    const lines = text().trim().split("\n");
    expect(lines[1]).toBe("ingest: 0/160 chunks, waiting for quota, resuming in 41 s");
    expect(lines).toHaveLength(2);
  });

  it("puts the wait on the bar on a terminal", () => {
    const { stream, text } = capture(true);
    const progress = createProgress({ label: "ingest", unit: "chunks", stream });
    progress.update(0, 160);
    progress.wait({
      state: "backing-off",
      resumeAt: Date.now() + 1500,
      reason: "connection refused (ECONNREFUSED); retry 1 of 6",
    });
    progress.stop();
    expect(text()).toContain(
      "backing off after connection refused (ECONNREFUSED); retry 1 of 6, resuming in 2 s",
    );
  });

  it("prints a wait as its own line when no display is drawn", () => {
    const { stream, text } = capture(false);
    showWait({ state: "waiting-for-quota", resumeAt: Date.now() + 2000 }, stream);
    expect(text()).toBe("gembed: waiting for quota, resuming in 2 s\n");
    expect(describeWait({ state: "waiting-for-quota", resumeAt: 1000 }, 1000)).toBe(
      "waiting for quota, resuming in 0 s",
    );
  });
});
