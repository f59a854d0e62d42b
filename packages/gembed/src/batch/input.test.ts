import { describe, expect, it } from "vitest";
import type { EmbedContentRequest } from "../api/types.js";
import {
  indexForKey,
  inlineRequests,
  jsonlInput,
  keyForIndex,
  planBatchJobs,
  resolveLimits,
} from "./input.js";

function requests(
  count: number,
  text = (index: number) => `text number ${index}`,
): EmbedContentRequest[] {
  return Array.from({ length: count }, (_, index) => ({
    model: "models/gemini-embedding-001",
    content: { parts: [{ text: text(index) }] },
    taskType: "RETRIEVAL_DOCUMENT",
  }));
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts).toString("utf8");
}

describe("keys", () => {
  it("maps indices to keys and back, refusing what is not a key", () => {
    expect(keyForIndex(42)).toBe("42");
    expect(indexForKey("42")).toBe(42);
    expect(indexForKey("0")).toBe(0);
    expect(indexForKey("007")).toBeUndefined();
    expect(indexForKey("-1")).toBeUndefined();
    expect(indexForKey("request_1")).toBeUndefined();
    expect(indexForKey(3)).toBeUndefined();
  });
});

describe("planBatchJobs", () => {
  it("keeps small input inline in one job", () => {
    const plans = planBatchJobs(requests(10));
    expect(plans).toHaveLength(1);
    expect(plans[0]).toMatchObject({ start: 0, end: 10, mode: "inline" });
  });

  it("goes to a file when the inline request would be over the limit", () => {
    const plans = planBatchJobs(requests(100), { limits: { inlineBytes: 5_000 } });
    expect(plans).toEqual([{ start: 0, end: 100, mode: "file", bytes: expect.any(Number) }]);
  });

  it("splits file input into jobs under the file limit, covering every index once", async () => {
    const input = requests(1_000);
    const plans = planBatchJobs(input, { limits: { inlineBytes: 1_000, fileBytes: 20_000 } });
    expect(plans.length).toBeGreaterThan(4);
    let next = 0;
    for (const plan of plans) {
      expect(plan.start).toBe(next);
      expect(plan.mode).toBe("file");
      expect(plan.bytes).toBeLessThanOrEqual(20_000);
      const text = await collect(jsonlInput(input, plan.start, plan.end, { chunkBytes: 1_000 }));
      expect(Buffer.byteLength(text)).toBe(plan.bytes);
      const lines = text
        .trimEnd()
        .split("\n")
        .map((line) => JSON.parse(line));
      expect(lines.map((line) => line.key)).toEqual(
        Array.from({ length: plan.end - plan.start }, (_, offset) => String(plan.start + offset)),
      );
      const { model: _model, ...sent } = input[plan.start] as EmbedContentRequest;
      expect(lines[0].request).toEqual(sent);
      expect(lines[0].request.model).toBeUndefined();
      next = plan.end;
    }
    expect(next).toBe(1_000);
  });

  it("uploads a file when the inline output could not be streamed (many full-size vectors)", () => {
    const full = requests(3_000);
    expect(planBatchJobs(full)[0]?.mode).toBe("file");
    const small = full.map((request) => ({ ...request, outputDimensionality: 128 }));
    expect(planBatchJobs(small)[0]?.mode).toBe("inline");
    expect(planBatchJobs(full, { limits: { inlineOutputBytes: 10 ** 9 } })[0]?.mode).toBe("inline");
  });

  it("measures UTF-8 bytes, not characters", () => {
    const ascii = planBatchJobs(
      requests(10, () => "aaaa"),
      { mode: "file" },
    );
    const wide = planBatchJobs(
      requests(10, () => "éééé"),
      { mode: "file" },
    );
    expect((wide[0]?.bytes ?? 0) - (ascii[0]?.bytes ?? 0)).toBe(40);
  });

  it("refuses a line larger than a whole file, and bad limits", () => {
    expect(() =>
      planBatchJobs(
        requests(3, () => "x".repeat(500)),
        { limits: { inlineBytes: 10, fileBytes: 200 } },
      ),
    ).toThrow(RangeError);
    expect(() => resolveLimits({ inlineBytes: 0 })).toThrow(RangeError);
    expect(() => resolveLimits({ fileBytes: "big" as unknown as number })).toThrow(TypeError);
    expect(() =>
      planBatchJobs(requests(100), { mode: "inline", limits: { inlineBytes: 5_000 } }),
    ).toThrow(RangeError);
  });

  it("uses the caller's keys", () => {
    const items = inlineRequests(requests(2), 0, 2, ["a", "b"]);
    expect(items.map((item) => item.metadata?.key)).toEqual(["a", "b"]);
  });
});
