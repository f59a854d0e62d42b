/**
 * Fault injection: seeded dice that decide, per embedding request, whether to answer 500 or 503,
 * drop the connection, or drop one embedding from a 200 answer, and how much latency to add.
 *
 * @module
 */

import type { ResolvedOptions } from "./options.js";

/** What to do to one request. */
export type FaultKind = "500" | "503" | "drop" | undefined;

/** The fault dice of one server. */
export class FaultDice {
  private state: number;
  constructor(private readonly options: ResolvedOptions["faults"]) {
    this.state = options.seed >>> 0;
  }

  /** mulberry32: a number in [0, 1). */
  private next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** True when any fault or latency is configured. */
  get active(): boolean {
    const { rate500, rate503, dropRate, shortAnswerRate, latencyMs, latencyPerTextMs } =
      this.options;
    return rate500 + rate503 + dropRate + shortAnswerRate + latencyMs + latencyPerTextMs > 0;
  }

  /** The fault of one request, if any. */
  roll(): FaultKind {
    const { rate500, rate503, dropRate } = this.options;
    if (rate500 + rate503 + dropRate === 0) return undefined;
    const value = this.next();
    if (value < rate500) return "500";
    if (value < rate500 + rate503) return "503";
    if (value < rate500 + rate503 + dropRate) return "drop";
    return undefined;
  }

  /** Whether a 200 answer of several embeddings loses one. */
  rollShortAnswer(): boolean {
    return this.options.shortAnswerRate > 0 && this.next() < this.options.shortAnswerRate;
  }

  /** Latency to add to a request of `texts` texts, in ms. */
  latency(texts: number): number {
    return this.options.latencyMs + this.options.latencyPerTextMs * texts;
  }
}
