/**
 * A 200 whose vector is not one (a value that is null, true, "0.5" or [0.5], or all zeros) is an
 * invalid answer: retried like a short answer, never returned. The synchronous path against a
 * scripted server (the local server never sends such an answer), and the batch results reader.
 */

import { EmbeddingIncompleteError, GeminiEmbeddingFunction, InvalidResponseError } from "gembed";
import { afterEach, describe, expect, it } from "vitest";
import { readInlineResponses } from "../packages/gembed/src/batch/results.js";
import {
  embeddingValuesProblem,
  toFloat32Vector,
} from "../packages/gembed/src/embedding/normalization.js";
import {
  type ScriptAnswer,
  type ScriptedServer,
  scriptedValues,
  startScriptedServer,
} from "./support/embedding-scripted-server.js";

let server: ScriptedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const DIMENSION = 768;
const texts = Array.from({ length: 5 }, (_, index) => `text number ${index}`);

/** A vector of `DIMENSION` values whose value at index 3 is `bad` (or all zeros). */
function spoiled(bad: unknown | "zeros"): unknown[] {
  if (bad === "zeros") return new Array(DIMENSION).fill(0);
  const values: unknown[] = scriptedValues("x", DIMENSION);
  values[3] = bad;
  return values;
}

const BAD_VALUES: unknown[] = [null, true, "0.5", [0.5], "zeros"];

describe("the synchronous path", () => {
  for (const bad of BAD_VALUES) {
    it(`retries an answer whose vector holds ${JSON.stringify(bad)}, and returns only good vectors`, async () => {
      server = await startScriptedServer((call, index): ScriptAnswer => {
        if (index > 0) return undefined;
        const embeddings = call.requests.map((request, position) => ({
          values:
            position === 2
              ? spoiled(bad)
              : scriptedValues((request.content.parts[0] as { text: string }).text, DIMENSION),
        }));
        return { embeddings } as ScriptAnswer;
      });
      const ef = new GeminiEmbeddingFunction({
        apiKey: "k",
        baseUrl: server.url,
        config: { outputDimensionality: DIMENSION },
        retryBaseDelay: 1,
      });
      const vectors = await ef.encodeDocuments(texts);
      expect(server.calls).toHaveLength(2);
      texts.forEach((text, index) => {
        const expected = scriptedValues(text, DIMENSION);
        const norm = Math.hypot(...expected);
        expect(vectors[index]?.[0]).toBeCloseTo((expected[0] as number) / norm, 5);
      });
    });
  }

  it("never returns an invalid vector: when every answer is invalid, the error says why", async () => {
    server = await startScriptedServer(
      (call): ScriptAnswer =>
        ({ embeddings: call.requests.map(() => ({ values: spoiled(null) })) }) as ScriptAnswer,
    );
    const ef = new GeminiEmbeddingFunction({
      apiKey: "k",
      baseUrl: server.url,
      config: { outputDimensionality: DIMENSION },
      retryBaseDelay: 1,
      maxRetries: 2,
    });
    const error = await ef.encodeDocuments(texts).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddingIncompleteError);
    const incomplete = error as EmbeddingIncompleteError;
    expect(incomplete.vectors.every((vector) => vector === undefined)).toBe(true);
    expect(incomplete.cause).toBeInstanceOf(InvalidResponseError);
    expect((incomplete.cause as Error).message).toContain("null at index 3");
    expect(server.calls).toHaveLength(3);
  });
});

describe("the check itself", () => {
  it("names what is wrong, where", () => {
    expect(() => toFloat32Vector(spoiled("0.5") as number[], DIMENSION, true)).toThrow(
      /"0\.5" at index 3, not a number/,
    );
    expect(() => toFloat32Vector(spoiled([0.5]) as number[], DIMENSION, false)).toThrow(
      /\[0\.5\] at index 3/,
    );
    expect(() => toFloat32Vector(spoiled("zeros") as number[], DIMENSION, true)).toThrow(
      /all zeros/,
    );
    expect(() => toFloat32Vector(spoiled(Number.NaN) as number[], DIMENSION, true)).toThrow(
      /NaN at index 3/,
    );
    expect(embeddingValuesProblem(spoiled(true))).toMatch(/true at index 3/);
    expect(embeddingValuesProblem(scriptedValues("y", DIMENSION))).toBeUndefined();
  });
});

describe("batch results", () => {
  it("turn an invalid vector into a retryable item error instead of returning it", () => {
    const responses = BAD_VALUES.map((bad, index) => ({
      response: { embedding: { values: spoiled(bad) as number[] } },
      metadata: { key: String(index) },
    }));
    responses.push({
      response: { embedding: { values: scriptedValues("fine", DIMENSION) } },
      metadata: { key: String(BAD_VALUES.length) },
    });
    const results = [
      ...readInlineResponses("batches/x", responses, { start: 0, end: responses.length }),
    ];
    expect(results).toHaveLength(responses.length);
    for (const result of results.slice(0, BAD_VALUES.length)) {
      expect(result.values).toBeUndefined();
      expect(result.error?.httpStatus).toBe(500);
      expect(result.error?.isRetryable).toBe(true);
      expect(result.error?.message).toMatch(/Invalid answer/);
    }
    expect(results.at(-1)?.values).toHaveLength(DIMENSION);
  });
});
