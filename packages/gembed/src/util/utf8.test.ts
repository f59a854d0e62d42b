import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { jsonBytes, utf8Length, utf8LengthByLoop } from "./utf8.js";

// Checked against Node's own encoder (Buffer.byteLength), which shares no code with either count.
describe("utf8Length", () => {
  const samples = [
    "",
    "plain ASCII text",
    "café, naïve, Œuvre",
    "日本語のテキスト",
    "emoji 😀 and flags 🇫🇷",
    "lone high \ud800 and lone low \udc00 surrogates",
    "a high surrogate at the very end \ud83d",
    "x".repeat(21_845), // exactly fills the first scratch at 3 bytes a unit
    `${"é".repeat(30_000)}😀`, // past the first scratch: a bigger one is made
  ];
  it("counts what Node's encoder writes, for every kind of character", () => {
    for (const text of samples) {
      // Node counts a lone surrogate as the 3 bytes of U+FFFD, as TextEncoder writes it.
      expect(utf8Length(text), JSON.stringify(text.slice(0, 40))).toBe(Buffer.byteLength(text));
      expect(utf8LengthByLoop(text)).toBe(Buffer.byteLength(text));
    }
  });
  it("counts texts too long for a scratch buffer without one", () => {
    const text = `${"ab😀".repeat(1_500_000)}\ud800`;
    expect(utf8Length(text)).toBe(Buffer.byteLength(text));
  });
  it("gives the same count after a large text grew the scratch (the scratch is never read)", () => {
    utf8Length("z".repeat(200_000));
    expect(utf8Length("short é")).toBe(8);
  });
});

describe("jsonBytes", () => {
  // Checked against the real serializer: JSON.stringify, then Node's own UTF-8 count.
  const stringified = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
  it("counts JSON.stringify's bytes for every escape JSON has", () => {
    const texts = [
      "",
      'quote " and backslash \\',
      "newline\n tab\t return\r backspace\b formfeed\f",
      "prose with line feeds only\n\nand more\n",
      "control \u0000 \u0001 \u001f and DEL \u007f",
      "pair 😀, lone high \ud800x, lone low \udc00, high at the end \ud83d",
      "low then high \udc00\ud800 (two lone surrogates)",
      "line separator \u2028 and paragraph separator \u2029",
      "é 日本 \uffff \ufeff",
    ];
    for (const text of texts) expect(jsonBytes(text), JSON.stringify(text)).toBe(stringified(text));
  });
  it("counts random strings of every kind of UTF-16 unit like JSON.stringify", () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const pools = [0x20, 0x80, 0x800, 0xd800, 0x10000];
    for (let round = 0; round < 2_000; round++) {
      let text = "";
      const length = Math.floor(random() * 40);
      for (let index = 0; index < length; index++)
        text += String.fromCharCode(Math.floor(random() * pools[Math.floor(random() * 5)]!));
      expect(jsonBytes(text)).toBe(stringified(text));
    }
  });
  it("counts requests, nested objects, arrays, numbers and left-out undefined fields", () => {
    const values: unknown[] = [
      {
        model: "models/gemini-embedding-001",
        content: { parts: [{ text: "a\nb" }] },
        taskType: "RETRIEVAL_DOCUMENT",
        title: undefined,
        outputDimensionality: 768,
      },
      { content: { parts: [{ inlineData: { mimeType: "image/png", data: "AAAA" } }] } },
      [1, -0.5, 1e21, 1.5e-7, Number.NaN, null, true, false, undefined, [], {}, "x"],
      { 'key\n"': [{ nested: { deeper: [0, -0, 123456789.123] } }], empty: "" },
    ];
    for (const value of values) expect(jsonBytes(value)).toBe(stringified(value));
  });
});
