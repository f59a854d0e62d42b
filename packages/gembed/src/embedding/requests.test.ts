import { describe, expect, it } from "vitest";
import { InvalidResponseError } from "../errors.js";
import { getModelInfo } from "../models.js";
import { l2Norm } from "./normalization.js";
import { attachRequests, EmbeddingRequests, requestsOf } from "./requests.js";

function requestsFor(
  model: string,
  outputDimensionality?: number,
  normalize = true,
): EmbeddingRequests {
  return new EmbeddingRequests({
    resource: `models/${model}`,
    model: getModelInfo(model),
    outputDimensionality,
    normalize,
  });
}

describe("EmbeddingRequests.buildRequest", () => {
  it("gemini-embedding-001: taskType, the title with RETRIEVAL_DOCUMENT only, the output size", () => {
    const requests = requestsFor("gemini-embedding-001", 256);
    expect(requests.buildRequest({ text: "body", title: "head" }, "RETRIEVAL_DOCUMENT")).toEqual({
      model: "models/gemini-embedding-001",
      content: { parts: [{ text: "body" }] },
      taskType: "RETRIEVAL_DOCUMENT",
      title: "head",
      outputDimensionality: 256,
    });
    // The API answers 400 to a title with another task type: it is left out.
    expect(requests.buildRequest({ text: "body", title: "head" }, "CLUSTERING")).toEqual({
      model: "models/gemini-embedding-001",
      content: { parts: [{ text: "body" }] },
      taskType: "CLUSTERING",
      outputDimensionality: 256,
    });
    // A blank title is no title.
    expect(
      requests.buildRequest({ text: "body", title: "  " }, "RETRIEVAL_DOCUMENT"),
    ).not.toHaveProperty("title");
  });

  it("never sends TASK_TYPE_UNSPECIFIED, nor an output size that was not set", () => {
    const requests = requestsFor("gemini-embedding-001");
    expect(requests.buildRequest("plain", "TASK_TYPE_UNSPECIFIED")).toEqual({
      model: "models/gemini-embedding-001",
      content: { parts: [{ text: "plain" }] },
    });
    expect(requests.buildRequest("plain", undefined)).toEqual(
      requests.buildRequest("plain", "TASK_TYPE_UNSPECIFIED"),
    );
  });

  it("gemini-embedding-2: the task and the title go into the text, no taskType field", () => {
    const requests = requestsFor("gemini-embedding-2");
    const document = requests.buildRequest({ text: "body", title: "head" }, "RETRIEVAL_DOCUMENT");
    expect(document).toEqual({
      model: "models/gemini-embedding-2",
      content: { parts: [{ text: "title: head | text: body" }] },
    });
    expect(requests.buildRequest("body", "RETRIEVAL_DOCUMENT").content.parts[0]?.text).toBe(
      "title: none | text: body",
    );
    expect(requests.buildRequest("where?", "RETRIEVAL_QUERY").content.parts[0]?.text).toBe(
      "task: search result | query: where?",
    );
    // A task with no documented prompt sends the text as it is.
    expect(requests.buildRequest("as is", "TASK_TYPE_UNSPECIFIED").content.parts[0]?.text).toBe(
      "as is",
    );
  });
});

describe("EmbeddingRequests.toVector", () => {
  it("checks the length against the output size and normalizes below the model's full size", () => {
    const requests = requestsFor("gemini-embedding-001", 2);
    expect(() => requests.toVector([1, 2, 3])).toThrow(InvalidResponseError);
    expect(() => requests.toVector([1, 2, 3])).toThrow(/expected 2/);
    const vector = requests.toVector([3, 4]);
    expect(Array.from(vector)).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.8, 6)]);
  });

  it("leaves a vector of the model's normalized size, or any with normalize off, as it came", () => {
    const full = Array.from({ length: 3072 }, () => 2);
    expect(requestsFor("gemini-embedding-001").toVector(full)[0]).toBe(2);
    expect(Array.from(requestsFor("gemini-embedding-001", 2, false).toVector([3, 4]))).toEqual([
      3, 4,
    ]);
  });

  it("for a model gembed does not know, learns the output size from the first vector", () => {
    const requests = requestsFor("my-tuned-model");
    expect(requests.knownDim()).toBeUndefined();
    expect(l2Norm(requests.toVector([3, 4, 0]))).toBeCloseTo(1, 6);
    expect(requests.knownDim()).toBe(3);
    expect(() => requests.toVector([1, 2])).toThrow(/expected 3/);
    // A size once learned stays.
    expect(requests.learnDim(5)).toBe(3);
  });
});

describe("requestsOf", () => {
  it("finds the requests attached to their owner, and nothing for any other value", () => {
    const owner = {};
    const requests = requestsFor("gemini-embedding-001");
    attachRequests(owner, requests);
    expect(requestsOf(owner)).toBe(requests);
    expect(requestsOf({})).toBeUndefined();
    expect(requestsOf(null)).toBeUndefined();
    expect(requestsOf("text")).toBeUndefined();
  });
});
