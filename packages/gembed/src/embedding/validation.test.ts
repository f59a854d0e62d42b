import { describe, expect, it } from "vitest";
import { InvalidInputError } from "../errors.js";
import { validateInputList } from "./validation.js";

function issuesOf(inputs: unknown, kind: "documents" | "queries" | "texts") {
  try {
    validateInputList(inputs, kind);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return (error as InvalidInputError).issues;
  }
  throw new Error("expected an InvalidInputError");
}

describe("validateInputList", () => {
  it("accepts strings and { text, title } documents, dropping empty titles", () => {
    expect(
      validateInputList(["a", { text: "b", title: "T" }, { text: "c", title: "  " }], "documents"),
    ).toEqual([{ text: "a" }, { text: "b", title: "T" }, { text: "c" }]);
  });

  it("names every bad index at once", () => {
    const issues = issuesOf(
      [
        "ok",
        "",
        "   \n\t",
        42,
        null,
        { text: "" },
        { text: "x", title: 5 },
        { title: "t" },
        "fine",
      ],
      "documents",
    );
    expect(issues.map((issue) => issue.index)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(issues.find((issue) => issue.index === 6)?.field).toBe("title");
    expect(issues.find((issue) => issue.index === 1)?.reason).toMatch(/empty or whitespace-only/);
  });

  it("takes plain strings only for queries", () => {
    const issues = issuesOf(["q", { text: "with title", title: "t" }], "queries");
    expect(issues).toEqual([{ index: 1, reason: expect.stringMatching(/must be a string/) }]);
  });

  it("throws TypeError for a non-array", () => {
    expect(() => validateInputList("text", "texts")).toThrow(TypeError);
  });

  it("does not put the text itself in the message", () => {
    // toThrow fails when nothing is thrown, so this test cannot pass by asserting nothing.
    const call = () => validateInputList([{ text: "secret-ish text", title: 1 }], "documents");
    expect(call).toThrow(InvalidInputError);
    expect(call).toThrow(/#0 title/);
    expect(call).not.toThrow(/secret-ish/);
  });
});
