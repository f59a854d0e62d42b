/**
 * Fixes of a second QA pass over the CLI: `serve --data-dir` under /proc (Node's recursive mkdir
 * never returned there), an API key that cannot go into a header (exit 2, naming the variable),
 * `--dim` named as `--dim`, `gembed help batch submit`, and Ctrl-C during `batch submit`. In-process
 * runs (`runCli`) against the local server on 127.0.0.1:0; Ctrl-C on a real child process.
 */
import { writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { spawnCli } from "./cli-run.js";
import { env, folder, run, server, useCliFixture } from "./support/cli-fixture.js";

useCliFixture("gembed-qa2-", "qa2-key");

describe("gembed serve --data-dir", () => {
  it.runIf(process.platform === "linux")(
    "a folder under /proc is a usage error (exit 2) naming it, instead of a start that never ends",
    { timeout: 20_000 },
    async () => {
      const result = await run([
        "serve",
        "--data-dir",
        "/proc/gembed-qa2",
        "--log-level",
        "silent",
      ]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        /^gembed: UsageError: The data folder \/proc\/gembed-qa2 cannot be written \(ENOENT on /,
      );
    },
  );
});

describe("an API key that cannot be sent", () => {
  it("is a usage error (exit 2) naming the variable, never the key", async () => {
    const key = "AIzaSy-clé-5c1e";
    const before = server.stats().requests;
    const result = await run(["embed", "hello"], { ...env, GEMINI_API_KEY: key });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^gembed: InvalidOptionError: The API key from GEMINI_API_KEY holds a character that cannot be sent in an HTTP header/,
    );
    expect(result.stderr + result.stdout).not.toContain("clé");
    expect(server.stats().requests).toBe(before);
  });
});

describe("--dim out of the model's range", () => {
  it("names --dim, in embed and in batch submit (exit 2, nothing sent)", async () => {
    await writeFile(path.join(folder, "in.txt"), "a\nb\n");
    const before = server.stats().requests;
    for (const args of [
      ["embed", "--dim", "5", "hello"],
      ["batch", "submit", "in.txt", "--dim", "5"],
    ]) {
      const result = await run(args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).toMatch(
        /^gembed: UsageError: --dim must be an integer from 128 to 3072, got 5/,
      );
      expect(result.stderr).not.toContain("config.outputDimensionality");
    }
    expect(server.stats().requests).toBe(before);
  });
});

describe("gembed help <command> <sub-command>", () => {
  it("shows the sub-command's help, as <command> <sub-command> --help does", async () => {
    const asked = await run(["help", "batch", "submit"]);
    const flag = await run(["batch", "submit", "--help"]);
    expect(asked.code).toBe(0);
    expect(asked.stdout).toContain("Usage: gembed batch submit [options] <input>");
    expect(asked.stdout).toBe(flag.stdout);
    // One word still works as before.
    const batch = await run(["help", "batch"]);
    expect(batch.stdout).toContain("Usage: gembed batch [options] [command]");
    expect((await run(["--debug", "help", "batch", "wait"])).stdout).toContain(
      "Usage: gembed batch wait [options] <job>",
    );
  });
});

/**
 * A stand-in for what the local server cannot stage: an answer that arrives late. Every request
 * is forwarded to the real server; the answer to the first request whose URL holds `held` (by
 * default the creation of a job, already created there) is held until `release()`.
 */
async function slowAnswerProxy(target: string, heldPath = ":asyncBatchEmbedContent") {
  let heldSeen: () => void = () => {};
  const holding = new Promise<void>((resolve) => {
    heldSeen = resolve;
  });
  let releaseHeld: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    releaseHeld = resolve;
  });
  const proxy = createServer(async (request, response) => {
    const parts: Buffer[] = [];
    for await (const part of request) parts.push(part as Buffer);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (typeof value === "string" && !["host", "connection", "content-length"].includes(name)) {
        headers[name] = value;
      }
    }
    const answer = await fetch(`${target}${request.url}`, {
      method: request.method ?? "GET",
      headers,
      ...(parts.length > 0 ? { body: Buffer.concat(parts) } : {}),
    });
    const body = Buffer.from(await answer.arrayBuffer());
    if ((request.url ?? "").includes(heldPath)) {
      heldSeen();
      await released;
    }
    const answerHeaders: Record<string, string> = {};
    answer.headers.forEach((value, name) => {
      if (!["content-length", "content-encoding", "connection"].includes(name)) {
        answerHeaders[name] = value;
      }
    });
    response.writeHead(answer.status, answerHeaders);
    response.end(body);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    holding,
    release: releaseHeld,
    close: () => new Promise<void>((resolve) => proxy.close(() => resolve())),
  };
}

describe("Ctrl-C during gembed batch submit", { timeout: 60_000 }, () => {
  it("once the job is being created: waits for it, prints its name, says how to cancel it, exit 130", async () => {
    await writeFile(path.join(folder, "in.txt"), "first text\nsecond text\n");
    const proxy = await slowAnswerProxy(server.url);
    try {
      const run = spawnCli(["batch", "submit", "in.txt", "--base-url", proxy.url], {
        cwd: folder,
        env,
      });
      let stderr = "";
      run.child.stderr?.on("data", (part: string) => {
        stderr += part;
      });
      await proxy.holding;
      run.child.kill("SIGINT");
      // The answer comes once the CLI took the signal (its line on stderr says so).
      const started = Date.now();
      while (!stderr.includes("interrupted while the job is being created")) {
        if (Date.now() - started > 20_000) throw new Error(`no interrupt line: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      proxy.release();
      const result = await run.done;
      expect(result.code).toBe(130);
      const name = result.stdout.trim();
      expect(name).toMatch(/^batches\/[a-z0-9]+$/);
      expect(result.stderr).toContain(`interrupted: job ${name} was created and keeps running`);
      expect(result.stderr).toContain(`gembed batch cancel ${name}`);
      // The printed name is the job the server holds.
      const job = await fetch(`${server.url}/v1beta/${name}`).then((answer) => answer.json());
      expect((job as { name: string }).name).toBe(name);
    } finally {
      proxy.release();
      await proxy.close();
    }
  });
  it("during the input file's upload: stops it, no job is created, exit 130", async () => {
    await writeFile(path.join(folder, "in.txt"), "first text\nsecond text\n");
    const jobsBefore = await fetch(`${server.url}/v1beta/batches`).then((answer) => answer.text());
    const createdBefore = server.stats().byEndpoint.asyncBatchEmbedContent ?? 0;
    const proxy = await slowAnswerProxy(server.url, "/upload/v1beta/files");
    try {
      const run = spawnCli(
        ["batch", "submit", "in.txt", "--input-mode", "file", "--base-url", proxy.url],
        { cwd: folder, env },
      );
      await proxy.holding;
      run.child.kill("SIGINT");
      const result = await run.done;
      expect(result.code).toBe(130);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain("interrupted: no job was created");
      expect(server.stats().byEndpoint.asyncBatchEmbedContent ?? 0).toBe(createdBefore);
      const jobsAfter = await fetch(`${server.url}/v1beta/batches`).then((answer) => answer.text());
      expect(jobsAfter).toBe(jobsBefore);
    } finally {
      proxy.release();
      await proxy.close();
    }
  });
});
