/**
 * Prometheus metrics of one server (its own prom-client `Registry`, so that several servers can
 * run in one process).
 *
 * @module
 */

import type { BatchState } from "gembed";
import { BATCH_STATES } from "gembed/internal";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** The metrics of one server. */
export class ServerMetrics {
  /** The registry `/metrics` answers with. */
  readonly registry = new Registry();
  readonly requests: Counter<"endpoint" | "code">;
  readonly texts: Counter<"model">;
  readonly tokens: Counter<"model">;
  readonly quotaRejections: Counter<"model">;
  readonly faults: Counter<"kind">;
  readonly latency: Histogram<"endpoint">;

  constructor(countJobs: () => Map<BatchState, number>) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: "gembed_server_requests_total",
      help: "HTTP requests answered, by endpoint and status code",
      labelNames: ["endpoint", "code"],
      registers,
    });
    this.texts = new Counter({
      name: "gembed_server_texts_total",
      help: "Texts embedded (synchronous and batch), by model",
      labelNames: ["model"],
      registers,
    });
    this.tokens = new Counter({
      name: "gembed_server_tokens_total",
      help: "Estimated input tokens embedded, by model",
      labelNames: ["model"],
      registers,
    });
    this.quotaRejections = new Counter({
      name: "gembed_server_quota_rejections_total",
      help: "429 RESOURCE_EXHAUSTED answers, by model",
      labelNames: ["model"],
      registers,
    });
    this.faults = new Counter({
      name: "gembed_server_faults_total",
      help: "Injected faults, by kind (500, 503, drop, short)",
      labelNames: ["kind"],
      registers,
    });
    this.latency = new Histogram({
      name: "gembed_server_request_duration_seconds",
      help: "Time to answer a request, by endpoint",
      labelNames: ["endpoint"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    new Gauge({
      name: "gembed_server_batch_jobs",
      help: "Batch jobs, by state",
      labelNames: ["state"],
      registers,
      collect() {
        const counts = countJobs();
        for (const state of BATCH_STATES) {
          if (state === "BATCH_STATE_UNSPECIFIED") continue;
          this.set({ state }, counts.get(state) ?? 0);
        }
      },
    });
  }
}
