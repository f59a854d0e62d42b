import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Sha256 } from "./sha256.js";

describe("Sha256", () => {
  it("gives Node's digest for texts around every padding edge, fed whole or in pieces", () => {
    for (const length of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 1000]) {
      const text = "aé😀".repeat(length).slice(0, length);
      const expected = createHash("sha256").update(text).digest("hex");
      expect(new Sha256().update(text).hex()).toBe(expected);
      const pieces = new Sha256();
      for (const piece of text.match(/[\s\S]{1,7}/gu) ?? []) pieces.update(piece);
      expect(pieces.hex()).toBe(expected);
    }
  });
});
