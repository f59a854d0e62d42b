/**
 * The WebAssembly JSON escaper (packages/ingest/src/json-escape.ts) against V8's own
 * `JSON.stringify`, which it replaced for chunk texts: the same bytes for every character JSON
 * escapes, at every position of a 16-byte block, for random texts and for texts that make its
 * memory grow; JSON.stringify's way (undefined) for lone surrogates and texts over its memory.
 * Then what is built on it: content hashes (against `node:crypto` over JSON.stringify) and row
 * lines in a journal (against JSON.stringify of the row); and the committed module is the
 * binary of its .wat source.
 */

import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentHash } from "../packages/ingest/src/hash.js";
import {
  jsonFloat32Bytes,
  jsonTextBytes,
  sha256OfJsonText,
} from "../packages/ingest/src/json-escape.js";
import { RowParts } from "../packages/ingest/src/row-parts.js";
import { wasmModuleSource } from "../scripts/build-wasm.mjs";

const decoder = new TextDecoder();
const escaped = (text: string) => {
  const bytes = jsonTextBytes(text);
  return bytes === undefined ? undefined : decoder.decode(bytes);
};

/** A small deterministic generator (the tests' inputs must not change from run to run). */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

const pick = [
  ..."abcXYZ019 .,:;!?",
  "\n",
  "\r",
  "\t",
  '"',
  "\\",
  "/",
  "\u0000",
  "\u0001",
  "\u0008",
  "\u000b",
  "\u000c",
  "\u001f",
  "\u007f",
  "é",
  "ß",
  "日",
  "\u2028",
  "\u2029",
  "\ufeff",
  "😀",
  "𝄞",
];

describe("jsonTextBytes", () => {
  it("gives JSON.stringify's bytes for every ASCII character, at every position of a block", () => {
    for (let code = 0; code < 0x80; code++) {
      const character = String.fromCharCode(code);
      for (let position = 0; position < 40; position++) {
        const text = `${"a".repeat(position)}${character}${"b".repeat(40 - position)}`;
        expect(escaped(text), `U+${code.toString(16)} at ${position}`).toBe(JSON.stringify(text));
      }
    }
    expect(escaped("")).toBe('""');
  });

  it("gives JSON.stringify's bytes for random texts of every kind of character", () => {
    const next = random(15);
    for (let round = 0; round < 2_000; round++) {
      const length = Math.floor(next() * 300);
      let text = "";
      for (let index = 0; index < length; index++) text += pick[Math.floor(next() * pick.length)];
      expect(escaped(text)).toBe(JSON.stringify(text));
    }
  });

  it("grows its memory for a long text, then still escapes short ones right", () => {
    const long = `${'a "quoted"\n line\t'.repeat(30_000)}😀`;
    expect(escaped(long)).toBe(JSON.stringify(long));
    expect(escaped('x"y')).toBe(JSON.stringify('x"y'));
  });

  it("leaves to JSON.stringify what UTF-8 cannot hold or its memory cannot take", () => {
    expect(jsonTextBytes("a\ud800b")).toBeUndefined();
    expect(jsonTextBytes("\udc00")).toBeUndefined();
    expect(jsonTextBytes("x".repeat(2_000_000))).toBeUndefined();
    // A surrogate pair is a character: escaped as it is.
    expect(escaped("a\ud83d\ude00b")).toBe(JSON.stringify("a😀b"));
  });

  it("writes every float32 (random bit patterns) in at most 9 digits that give it back", () => {
    const next = random(21);
    const bits = new Uint32Array(1_000);
    const floats = new Float32Array(bits.buffer);
    for (let round = 0; round < 200; round++) {
      for (let index = 0; index < bits.length; index++)
        bits[index] = Math.floor(next() * 0x1_0000_0000);
      const bytes = jsonFloat32Bytes(Array.from(floats));
      expect(bytes).toBeDefined();
      const text = decoder.decode(bytes);
      const parsed = JSON.parse(text) as (number | null)[];
      expect(parsed).toHaveLength(floats.length);
      for (const [index, value] of parsed.entries()) {
        const float = floats[index]!;
        if (!Number.isFinite(float)) expect(value).toBeNull();
        else expect(Math.fround(value!) === float, `${float} written ${value}`).toBe(true);
      }
      // Never longer than V8's own writing of the same values.
      expect(text.length).toBeLessThanOrEqual(JSON.stringify(Array.from(floats)).length);
    }
  });

  it("hashes the bytes JSON.stringify gives, with what goes before and after", () => {
    const next = random(7);
    for (let round = 0; round < 200; round++) {
      let text = "";
      for (let index = 0; index < 100; index++) text += pick[Math.floor(next() * pick.length)];
      const before = `["m",${round},"t",`;
      expect(sha256OfJsonText(before, text, "]")).toBe(
        createHash("sha256")
          .update(`${before}${JSON.stringify(text)}]`)
          .digest("hex"),
      );
    }
  });
});

describe("what is built on it", () => {
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(path.join(tmpdir(), "gembed-json-escape-"));
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it("content hashes are SHA-256 of JSON.stringify([model, dim, title, text]), lone surrogates included", () => {
    const next = random(3);
    for (let round = 0; round < 300; round++) {
      let text = round % 50 === 0 ? "lone \ud800 surrogate" : "";
      for (let index = 0; index < 60; index++) text += pick[Math.floor(next() * pick.length)];
      const input = {
        text,
        title: round % 2 ? `T"${round}` : undefined,
        model: "gemini-embedding-001",
        dim: 768,
      };
      expect(contentHash(input)).toBe(
        createHash("sha256")
          .update(JSON.stringify([input.model, input.dim, input.title ?? "", input.text]))
          .digest("hex"),
      );
    }
  });

  it("journal lines are JSON.stringify of each row, whatever its text holds (vectors of float32s as short)", async () => {
    const base = path.join(folder, "rows.json");
    const texts = [
      'quote " back \\ nl \n tab \t ctl \u0001 é 😀 \u2028',
      "lone \ud800 end",
      "plain",
    ];
    const rows = texts.map((text, index) => ({
      id: `doc-${index}`,
      text,
      title: `Title ${index} "x"`,
      metadata: { source: "a.md", nested: { list: [1, "two", null] } },
      content_hash: "ab".repeat(32),
      vector: [0.25, -0.5],
    }));
    const parts = await RowParts.open(base, { model: "m", dim: 2 });
    await parts.append(rows);
    const journal = await readFile(parts.journalPath, "utf8");
    expect(journal).toBe(`{"rows":[\n${rows.map((row) => `${JSON.stringify(row)},\n`).join("")}`);
    for (const row of rows) {
      expect(await parts.readRow(parts.lookup([row.id]).get(row.id)!)).toEqual(row);
    }
    parts.close();
  });

  it("vectors are written as float32 values of at most 9 digits, read back as the same float32s", async () => {
    const base = path.join(folder, "vectors.json");
    const next = random(11);
    const values = Float32Array.from({ length: 256 }, (_, index) =>
      index < 8
        ? [0, 2.5, 1, -1, 1e-7, 3.4028234663852886e38, 1.401298464324817e-45, 123456.5][index]!
        : (next() * 2 - 1) * 10 ** Math.floor(next() * 8 - 6),
    );
    const row = {
      id: "v",
      text: "t",
      title: "",
      metadata: {},
      content_hash: "cd".repeat(32),
      vector: Array.from(values),
    };
    const parts = await RowParts.open(base, { model: "m", dim: values.length });
    await parts.append([row]);
    const line = (await readFile(parts.journalPath, "utf8")).split("\n")[1]!.replace(/,$/, "");
    const written = (JSON.parse(line) as { vector: number[] }).vector;
    for (const [index, value] of written.entries()) {
      expect(Math.fround(value), `value ${index}`).toBe(values[index]);
      // 9 significant digits at most (an exponent and a sign aside).
      expect(
        String(value)
          .replace(/^-|e.*$/g, "")
          .replace(/^0\.0*|\./g, "").length,
      ).toBeLessThanOrEqual(9);
    }
    // V8 writes the same float32s with up to 17 digits: the line is shorter.
    expect(line.length).toBeLessThan(JSON.stringify(row).length);
    expect(await parts.readRow(parts.lookup(["v"]).get("v")!)).toEqual({
      ...row,
      vector: Array.from(values),
    });
    // A double that is not a float32 (not what the embedding function gives) is written as it is.
    const double = { ...row, id: "d", vector: Array.from({ length: values.length }, () => 0.1) };
    await parts.append([double]);
    const lines = (await readFile(parts.journalPath, "utf8")).split("\n");
    expect(lines[2]).toBe(`${JSON.stringify(double)},`);
    parts.close();
  });

  it("the committed module is the binary of json-escape.wat", async () => {
    const committed = await readFile(
      path.join(import.meta.dirname, "../packages/ingest/src/json-escape-wasm.ts"),
      "utf8",
    );
    expect(committed).toBe(await wasmModuleSource());
  });
});
