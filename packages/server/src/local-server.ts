/**
 * The parts of one running local server that every route group uses, and the gate every
 * embedding request passes (latency, faults, quota).
 *
 * @module
 */

import { setTimeout as sleep } from "node:timers/promises";
import type { FastifyReply, FastifyRequest } from "fastify";
import { FaultDice } from "./faults.js";
import type { FileStore } from "./files.js";
import type { JobManager } from "./jobs.js";
import { ServerMetrics } from "./metrics.js";
import type { ResolvedOptions, ServerStats } from "./options.js";
import { QuotaTracker } from "./quota.js";
import { ServerApiError } from "./status.js";

/**
 * A server being built: its stores, quota, fault dice, metrics and counters, which the routes
 * share. @internal
 */
export class LocalServer {
  readonly quota: QuotaTracker;
  readonly dice: FaultDice;
  readonly metrics: ServerMetrics;
  readonly counters: ServerStats = {
    requests: 0,
    texts: 0,
    tokens: 0,
    byEndpoint: {},
    batchesCreated: 0,
    filesUploaded: 0,
    quotaRejections: 0,
    faults: {},
  };

  constructor(
    readonly options: ResolvedOptions,
    readonly files: FileStore,
    readonly jobs: JobManager,
  ) {
    this.quota = new QuotaTracker(options.quota);
    this.dice = new FaultDice(options.faults);
    this.metrics = new ServerMetrics(() => jobs.countByState());
  }

  countTexts(model: string, texts: number, tokens: number): void {
    this.counters.texts += texts;
    this.counters.tokens += tokens;
    this.metrics.texts.inc({ model }, texts);
    this.metrics.tokens.inc({ model }, tokens);
  }

  countFault(kind: string): void {
    this.counters.faults[kind] = (this.counters.faults[kind] ?? 0) + 1;
    this.metrics.faults.inc({ kind });
  }

  /** Latency, faults and quota of one embedding request; true when the connection was dropped. */
  async gate(
    request: FastifyRequest,
    reply: FastifyReply,
    model: string,
    texts: number,
    tokens: number,
  ): Promise<boolean> {
    if (this.dice.active) {
      const latency = this.dice.latency(texts);
      if (latency > 0) await sleep(latency);
      const fault = this.dice.roll();
      if (fault === "drop") {
        this.countFault("drop");
        reply.hijack();
        request.raw.socket.destroy();
        return true;
      }
      if (fault === "500") {
        this.countFault("500");
        throw new ServerApiError(500, "Internal error encountered.");
      }
      if (fault === "503") {
        this.countFault("503");
        throw new ServerApiError(503, "The model is overloaded. Please try again later.");
      }
    }
    try {
      this.quota.take(model, texts, tokens);
    } catch (error) {
      this.counters.quotaRejections++;
      this.metrics.quotaRejections.inc({ model });
      throw error;
    }
    return false;
  }
}
