import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { BadRequestError, BatchResultsError, InvalidResponseError } from "../errors.js";
import {
  type BatchItemResult,
  readInlineResponses,
  readResponsesFile,
  splitLines,
} from "./results.js";

function line(key: string, values: number[] = [1, 2]): string {
  return JSON.stringify({ response: { tokenCount: "1", embedding: { values } }, key });
}

async function all(iterable: AsyncIterable<BatchItemResult>): Promise<BatchItemResult[]> {
  const results: BatchItemResult[] = [];
  for await (const result of iterable) results.push(result);
  return results;
}

describe("splitLines", () => {
  it("splits across chunk borders, CRLF and multi-byte characters", async () => {
    const bytes = Buffer.from("é1\r\nab\ncé");
    const chunks = [
      bytes.subarray(0, 1),
      bytes.subarray(1, 5),
      bytes.subarray(5, 9),
      bytes.subarray(9),
    ];
    const lines: string[] = [];
    for await (const text of splitLines(Readable.from(chunks))) lines.push(text);
    expect(lines).toEqual(["é1", "ab", "cé"]);
  });

  it("throws the stream's error instead of ending early", async () => {
    async function* broken() {
      yield Buffer.from("a\nb");
      throw new Error("connection reset");
    }
    const lines: string[] = [];
    await expect(async () => {
      for await (const text of splitLines(broken())) lines.push(text);
    }).rejects.toThrow("connection reset");
    expect(lines).toEqual(["a"]);
  });
});

describe("readResponsesFile", () => {
  it("maps keys to indices in any order, with item errors typed", async () => {
    const file = [
      line("12", [3]),
      JSON.stringify({
        key: "10",
        error: { code: 3, message: "contains an empty Part", status: "INVALID_ARGUMENT" },
      }),
      line("11", [2]),
    ].join("\n");
    const results = await all(
      readResponsesFile("batches/x", Readable.from([file]), { start: 10, end: 13 }),
    );
    expect(results.map((result) => result.index)).toEqual([12, 10, 11]);
    expect(results[0]?.values).toEqual([3]);
    expect(results[1]?.error).toBeInstanceOf(BadRequestError);
    expect(results[1]?.error?.message).toContain("empty Part");
  });

  it("names missing keys", async () => {
    const file = `${line("0")}\n${line("2")}\n`;
    const error = await all(
      readResponsesFile("batches/x", Readable.from([file]), { start: 0, end: 4 }),
    ).catch((caught) => caught);
    expect(error).toBeInstanceOf(BatchResultsError);
    expect(error.missingKeys).toEqual(["1", "3"]);
    expect(error.message).toContain("batches/x");
    expect(error.message).toContain("1, 3");
  });

  it("refuses a repeated key and an unknown key", async () => {
    const repeated = await all(
      readResponsesFile("batches/x", Readable.from([`${line("0")}\n${line("0")}\n`]), {
        start: 0,
        end: 2,
      }),
    ).catch((caught) => caught);
    expect(repeated).toBeInstanceOf(BatchResultsError);
    expect(repeated.duplicateKeys).toEqual(["0"]);
    const unknown = await all(
      readResponsesFile("batches/x", Readable.from([`${line("5")}\n`]), { start: 0, end: 2 }),
    ).catch((caught) => caught);
    expect(unknown.unknownKeys).toEqual(["5"]);
    const named = await all(
      readResponsesFile("batches/x", Readable.from([`${line("b")}\n${line("zz")}\n`]), {
        keys: ["a", "b"],
      }),
    ).catch((caught) => caught);
    expect(named.unknownKeys).toEqual(["zz"]);
  });

  it("checks the count when keys are unknown, and refuses a line that is not JSON", async () => {
    const ok = await all(
      readResponsesFile("batches/x", Readable.from([`${line("p")}\n${line("q")}\n`]), { count: 2 }),
    );
    expect(ok.map((result) => [result.index, result.key])).toEqual([
      [0, "p"],
      [1, "q"],
    ]);
    await expect(
      all(readResponsesFile("batches/x", Readable.from([`${line("p")}\n`]), { count: 2 })),
    ).rejects.toThrow(BatchResultsError);
    await expect(
      all(readResponsesFile("batches/x", Readable.from(["{oops\n"]), { count: 1 })),
    ).rejects.toThrow(InvalidResponseError);
  });
});

describe("readInlineResponses", () => {
  it("uses metadata keys, else positions, and checks the count", () => {
    const withKeys = [
      ...readInlineResponses(
        "batches/y",
        [
          { response: { embedding: { values: [2] } }, metadata: { key: "1" } },
          { response: { embedding: { values: [1] } }, metadata: { key: "0" } },
        ],
        { start: 0, end: 2 },
      ),
    ];
    expect(withKeys.map((result) => [result.index, result.values])).toEqual([
      [1, [2]],
      [0, [1]],
    ]);
    const byPosition = [
      ...readInlineResponses(
        "batches/y",
        [{ response: { embedding: { values: [1] } } }, { error: { code: 13, message: "boom" } }],
        { start: 5, end: 7 },
      ),
    ];
    expect(byPosition.map((result) => result.index)).toEqual([5, 6]);
    expect(byPosition[1]?.error?.httpStatus).toBe(500);
    expect(() => [
      ...readInlineResponses("batches/y", [{ response: { embedding: { values: [1] } } }], {
        start: 0,
        end: 2,
      }),
    ]).toThrow(/1 key\(s\) missing/);
  });
});
