import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { utf8Length, utf8LengthByLoop } from "./utf8.js";

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
