/**
 * Media inputs of GeminiEmbeddingFunction (gemini-embedding-2) against the real local server
 * (`startServer` on 127.0.0.1:0): one vector per input in order, aggregation only inside one
 * input, every rule refused before the network, inline versus Files API by size, uploads reused,
 * and the server's own validation of inlineData/fileData.
 */

import { type RunningServer, startServer } from "@gembed/server";
import {
  EmbeddingIncompleteError,
  type EmbeddingInput,
  GeminiEmbeddingFunction,
  InvalidMediaInputError,
} from "gembed";
import { afterEach, describe, expect, it } from "vitest";
import { jpeg, mp4, pdf, png, wav } from "./support/media-fixtures.js";

const MODEL = "gemini-embedding-2";
let server: RunningServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: Parameters<typeof startServer>[0] = {}): Promise<RunningServer> {
  server = await startServer(options);
  return server;
}

function embedder(running: RunningServer, options: Record<string, unknown> = {}) {
  return new GeminiEmbeddingFunction({
    modelName: MODEL,
    baseUrl: running.url,
    apiKey: "media-key",
    config: { outputDimensionality: 256 },
    retryBaseDelay: 1,
    ...options,
  });
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let index = 0; index < a.length; index++) dot += (a[index] as number) * (b[index] as number);
  return dot;
}

const media = (mimeType: string, data: Uint8Array) => ({ media: { mimeType, data } });

describe("media inputs through GeminiEmbeddingFunction", () => {
  it("gives one vector per input, in order, for mixed text and media", async () => {
    const running = await start();
    const ef = embedder(running);
    const inputs: EmbeddingInput[] = [
      "a red running shoe",
      media("image/png", png(1)),
      media("application/pdf", pdf(2)),
      { text: "trail shoes for mud", title: "Catalogue" },
      media("audio/wav", wav(3)),
      media("video/mp4", mp4(10, true)),
      media("image/jpeg", jpeg(2)),
      media("image/png", png(1)),
    ];
    const vectors = await ef.encodeDocuments(inputs);
    expect(vectors).toHaveLength(inputs.length);
    // Each vector is the one its input gets alone: nothing merged, nothing shifted.
    for (let index = 0; index < inputs.length; index++) {
      const [alone] = await ef.encodeDocuments([inputs[index] as EmbeddingInput]);
      expect(Array.from(vectors[index] as Float32Array)).toEqual(Array.from(alone as Float32Array));
    }
    // The same bytes give the same vector; other bytes another one.
    expect(cosine(vectors[1] as Float32Array, vectors[7] as Float32Array)).toBeCloseTo(1, 6);
    expect(cosine(vectors[1] as Float32Array, vectors[6] as Float32Array)).toBeLessThan(0.5);
    // One call for the eight inputs (one request each inside it).
    expect(running.stats().byEndpoint.batchEmbedContents).toBe(1 + inputs.length);
    expect(running.stats().texts).toBe(inputs.length * 2);
  });

  it("aggregates the parts of one input into one vector, and only those", async () => {
    const running = await start();
    const ef = embedder(running);
    const photo = media("image/png", png(5));
    const [combined, caption, image, other] = await ef.encodeDocuments([
      { parts: ["red leather boot with laces", photo] },
      "red leather boot with laces",
      photo,
      "a spreadsheet of quarterly taxes",
    ]);
    expect(running.stats().texts).toBe(4);
    const [c, t, i, o] = [combined, caption, image, other] as [
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
    ];
    expect(cosine(c, t)).toBeLessThan(0.999);
    expect(cosine(c, i)).toBeLessThan(0.999);
    // The combined vector carries both parts: nearer the image than the caption alone is, and
    // nearer the caption than the image alone is; an unrelated text is farther than both.
    expect(cosine(c, i)).toBeGreaterThan(cosine(t, i) + 0.2);
    expect(cosine(c, t)).toBeGreaterThan(cosine(i, t) + 0.2);
    expect(cosine(c, o)).toBeLessThan(Math.min(cosine(c, t), cosine(c, i)));
  });

  it("refuses every rule before the network, naming the input index", async () => {
    const running = await start();
    const ef = embedder(running);
    const cases: { inputs: EmbeddingInput[]; index: number; words: RegExp }[] = [
      {
        inputs: [
          "fine",
          { parts: Array.from({ length: 7 }, (_, n) => media("image/png", png(n))) },
        ],
        index: 1,
        words: /7 images in one input; at most 6/,
      },
      { inputs: [media("application/pdf", pdf(7))], index: 0, words: /7 pages .* 6 pages/ },
      {
        inputs: [
          "a",
          "b",
          { parts: [media("application/pdf", pdf(1)), media("application/pdf", pdf(2))] },
        ],
        index: 2,
        words: /2 PDFs in one input; at most 1/,
      },
      { inputs: [media("audio/wav", wav(200))], index: 0, words: /audio of 200\.0 s .* 180 s/ },
      {
        inputs: [media("video/mp4", mp4(130, false))],
        index: 0,
        words: /130\.0 s .* 120 s without/,
      },
      {
        inputs: [media("video/mp4", mp4(90, true))],
        index: 0,
        words: /90\.0 s .* 80 s with an audio/,
      },
      { inputs: ["x", media("image/gif", png(1))], index: 1, words: /"image\/gif" is not taken/ },
      { inputs: [media("image/png", jpeg(1))], index: 0, words: /not image\/png/ },
      { inputs: [media("image/png", new Uint8Array())], index: 0, words: /is empty/ },
      { inputs: [{ parts: [] }], index: 0, words: /non-empty array/ },
      { inputs: [{ fileUri: "", mimeType: "image/png" }], index: 0, words: /non-empty string/ },
    ];
    for (const { inputs, index, words } of cases) {
      const error = await ef.encodeDocuments(inputs).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(InvalidMediaInputError);
      const issues = (error as InvalidMediaInputError).issues;
      expect(issues.map((issue) => issue.index)).toEqual([index]);
      expect((error as Error).message).toMatch(words);
    }
    // A text-only model refuses media and says which model takes it.
    const textOnly = embedder(running, { modelName: "gemini-embedding-001" });
    const error = await textOnly
      .encodeDocuments(["text", media("image/png", png(1))])
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidMediaInputError);
    expect((error as Error).message).toMatch(
      /#1: gemini-embedding-001 takes text only.*gemini-embedding-2/,
    );
    // Queries stay strings.
    await expect(
      ef.encodeQueries([media("image/png", png(1)) as unknown as string]),
    ).rejects.toThrow(/a query must be a string/);
    expect(running.stats().requests).toBe(0);
  });

  it("sends small media inline and large media through the Files API, same vector either way", async () => {
    const running = await start();
    const small = png(11, 300);
    const large = png(12, 40_000);
    const ef = embedder(running, { maxBytesPerCall: 20_000 });
    const [smallVector, largeVector] = await ef.encodeDocuments([
      media("image/png", small),
      media("image/png", large),
    ]);
    expect(running.stats().filesUploaded).toBe(1);
    expect(ef.uploads.uploads).toBe(1);
    // The same bytes inline (a bigger call limit) give the same vector as through the file.
    const inline = embedder(running);
    const [largeInline, smallInline] = await inline.encodeDocuments([
      media("image/png", large),
      media("image/png", small),
    ]);
    expect(running.stats().filesUploaded).toBe(1);
    expect(Array.from(largeInline as Float32Array)).toEqual(
      Array.from(largeVector as Float32Array),
    );
    expect(Array.from(smallInline as Float32Array)).toEqual(
      Array.from(smallVector as Float32Array),
    );
  });

  it("reuses an upload on retry and on a second call, never uploading the same bytes twice", async () => {
    // Every embedding call fails 500: the work stops with the upload done.
    const failing = await start({ faults: { rate500: 1 } });
    const ef = embedder(failing, { maxBytesPerCall: 2_048, maxRetries: 2 });
    const big = media("image/png", png(21, 8_000));
    const error = await ef.encodeDocuments([big, "text"]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddingIncompleteError);
    expect(failing.stats().faults["500"]).toBe(3);
    expect(failing.stats().filesUploaded).toBe(1);
    // Resume on the same function: the missing input again, the same file, no new upload.
    await expect(ef.encodeDocuments([big])).rejects.toBeInstanceOf(EmbeddingIncompleteError);
    expect(failing.stats().filesUploaded).toBe(1);
    expect(ef.uploads.uploads).toBe(1);
  });

  it("embeds an already uploaded file by its URI", async () => {
    const running = await start();
    const ef = embedder(running);
    const bytes = pdf(3, "uploaded");
    const file = await ef.client.files.upload(bytes, { mimeType: "application/pdf" });
    const [byUri, inline] = await ef.encodeDocuments([
      { fileUri: file.uri as string, mimeType: "application/pdf" },
      media("application/pdf", bytes),
    ]);
    expect(Array.from(byUri as Float32Array)).toEqual(Array.from(inline as Float32Array));
  });
});

/** The parts of an answer (or a google.rpc.Status) the tests read. */
interface StatusOrAnswer {
  error: { status: string; message: string };
  embeddings: unknown[];
  usageMetadata: { promptTokenCount: number };
}

describe("the local server's media validation", () => {
  async function post(running: RunningServer, model: string, body: unknown) {
    const response = await fetch(`${running.url}/v1beta/models/${model}:batchEmbedContents`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": "k" },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as StatusOrAnswer };
  }
  const inline = (mimeType: string, data: Uint8Array) => ({
    inlineData: { mimeType, data: Buffer.from(data).toString("base64") },
  });

  it("answers 400 with the real Status body for media on a text-only model and for each limit", async () => {
    const running = await start();
    const textOnly = await post(running, "gemini-embedding-001", {
      requests: [{ content: { parts: [inline("image/png", png(1))] } }],
    });
    expect(textOnly.status).toBe(400);
    expect(textOnly.body.error.status).toBe("INVALID_ARGUMENT");
    expect(textOnly.body.error.message).toMatch(
      /requests\[0\]\.content: gemini-embedding-001 takes text only.*gemini-embedding-2/,
    );
    const tooMany = await post(running, MODEL, {
      requests: [
        { content: { parts: [{ text: "ok" }] } },
        { content: { parts: Array.from({ length: 7 }, (_, n) => inline("image/png", png(n))) } },
      ],
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.message).toMatch(/requests\[1\]\.content: 7 images in one input/);
    const missingFile = await post(running, MODEL, {
      requests: [
        {
          content: {
            parts: [{ fileData: { mimeType: "image/png", fileUri: "files/nosuchfile" } }],
          },
        },
      ],
    });
    expect(missingFile.status).toBe(400);
    expect(missingFile.body.error.message).toMatch(/File nosuchfile does not exist/);
  });

  it("counts media toward the token quota with the documented estimates", async () => {
    const running = await start();
    const answer = await post(running, MODEL, {
      requests: [
        { content: { parts: [inline("image/png", png(1))] } },
        { content: { parts: [inline("application/pdf", pdf(3))] } },
        { content: { parts: [inline("audio/wav", wav(10))] } },
        { content: { parts: [inline("video/mp4", mp4(4, false))] } },
      ],
    });
    expect(answer.status).toBe(200);
    expect(answer.body.embeddings).toHaveLength(4);
    // 258 per image, 258 per PDF page, 32 per second of audio, 263 per second of video.
    expect(answer.body.usageMetadata.promptTokenCount).toBe(258 + 3 * 258 + 320 + 4 * 263);
  });
});

describe("media through the Batch API", () => {
  it("sends media as uploaded files in the job and gives the synchronous path's vectors", async () => {
    const running = await start({ batch: { delayPerItemMs: 1 } });
    const ef = embedder(running);
    const inputs: EmbeddingInput[] = [
      "a text between images",
      media("image/png", png(31)),
      { parts: ["a caption", media("image/jpeg", jpeg(32))] },
      media("application/pdf", pdf(2, "batch")),
      media("audio/wav", wav(2)),
    ];
    const batch = await ef.encodeDocuments(inputs, { mode: "batch", pollInterval: 20 });
    expect(running.stats().batchesCreated).toBe(1);
    // Every media part went up as a file (4 parts), none inline in the job.
    expect(running.stats().filesUploaded).toBeGreaterThanOrEqual(4);
    expect(ef.uploads.uploads).toBe(4);
    // The same through a JSONL input file: its lines carry fileData; the uploads are reused.
    const fromFile = await ef.encodeDocuments(inputs, {
      mode: "batch",
      pollInterval: 20,
      inputMode: "file",
    });
    expect(running.stats().batchesCreated).toBe(2);
    expect(ef.uploads.uploads).toBe(4);
    expect(fromFile.map((vector) => Array.from(vector))).toEqual(
      batch.map((vector) => Array.from(vector)),
    );
    const sync = await embedder(running).encodeDocuments(inputs);
    expect(batch).toHaveLength(inputs.length);
    for (let index = 0; index < inputs.length; index++) {
      expect(Array.from(batch[index] as Float32Array)).toEqual(
        Array.from(sync[index] as Float32Array),
      );
    }
  });

  it("refuses a media rule before creating a job", async () => {
    const running = await start();
    const ef = embedder(running);
    await expect(
      ef.encodeDocuments(["ok", media("application/pdf", pdf(9))], { mode: "batch" }),
    ).rejects.toBeInstanceOf(InvalidMediaInputError);
    expect(running.stats().requests).toBe(0);
  });
});
