import { describe, expect, it } from "vitest";
import { redactUrl } from "./security.js";
import { formatDuration } from "./status.js";
import { buildJson, embeddingsJson } from "./wire.js";

describe("wire values", () => {
  it("writes fixed decimals that parse back to the quantized values", () => {
    const values = Int32Array.from([
      0, 1, -1, 123456789, -999999999, 1_000_000_000, -1_000_000_000, 20785617,
    ]);
    const parsed = JSON.parse(buildJson(["[", "]"], [values]).toString("utf8")) as number[];
    expect(parsed).toEqual([0, 1e-9, -1e-9, 0.123456789, -0.999999999, 1, -1, 0.020785617]);
  });

  it("builds the batch answer shape", () => {
    const body = JSON.parse(
      embeddingsJson([Int32Array.from([5]), Int32Array.from([-5, 7])], ',"x":1').toString(),
    );
    expect(body).toEqual({ embeddings: [{ values: [5e-9] }, { values: [-5e-9, 7e-9] }], x: 1 });
    expect(JSON.parse(embeddingsJson([]).toString())).toEqual({ embeddings: [] });
  });
});

describe("durations and redaction", () => {
  it("formats retry delays like google.protobuf.Duration", () => {
    expect(formatDuration(12_000)).toBe("12s");
    expect(formatDuration(350)).toBe("0.350s");
    expect(formatDuration(1234.2)).toBe("1.235s");
  });

  it("removes API keys from URLs", () => {
    expect(redactUrl("/v1beta/models?key=abc&pageSize=2")).toBe(
      "/v1beta/models?key=[REDACTED]&pageSize=2",
    );
    expect(redactUrl("/x?a=1&KEY=zzz")).toBe("/x?a=1&KEY=[REDACTED]");
  });
});
