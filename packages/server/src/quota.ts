/**
 * Per-model quotas counted per text, like the real service: texts per minute, tokens per minute
 * and texts per day, each over a sliding window. Over quota, the answer is a 429
 * `RESOURCE_EXHAUSTED` with a `QuotaFailure` and a `RetryInfo.retryDelay` equal to the time until
 * there is room for the request (and no `Retry-After` header).
 *
 * @module
 */

import { TYPE_URLS } from "gembed/internal";
import type { ResolvedOptions } from "./options.js";
import { formatDuration, ServerApiError } from "./status.js";

interface Usage {
  time: number;
  texts: number;
  tokens: number;
}

/** One sliding window of usage events. */
class Window {
  private readonly events: Usage[] = [];
  private head = 0;
  texts = 0;
  tokens = 0;
  constructor(readonly length: number) {}

  prune(now: number): void {
    while (this.head < this.events.length) {
      const event = this.events[this.head] as Usage;
      if (event.time + this.length > now) break;
      this.texts -= event.texts;
      this.tokens -= event.tokens;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.events.length) {
      this.events.splice(0, this.head);
      this.head = 0;
    }
  }

  add(event: Usage): void {
    this.events.push(event);
    this.texts += event.texts;
    this.tokens += event.tokens;
  }

  /** Ms until `used(window) + amount <= limit`, for the measure `key`. */
  waitFor(now: number, key: "texts" | "tokens", amount: number, limit: number): number {
    let used = this[key];
    if (used + amount <= limit) return 0;
    if (amount > limit) return this.length;
    for (let index = this.head; index < this.events.length; index++) {
      const event = this.events[index] as Usage;
      used -= event[key];
      if (used + amount <= limit) return Math.max(1, event.time + this.length - now);
    }
    return this.length;
  }
}

interface ModelWindows {
  minute: Window;
  day: Window;
}

/** The quotas of one server. */
export class QuotaTracker {
  private readonly models = new Map<string, ModelWindows>();
  constructor(private readonly options: ResolvedOptions["quota"]) {}

  /** True when no quota is set. */
  get unlimited(): boolean {
    const { textsPerMinute, tokensPerMinute, textsPerDay } = this.options;
    return (
      textsPerMinute === undefined && tokensPerMinute === undefined && textsPerDay === undefined
    );
  }

  /**
   * Counts `texts` texts and `tokens` tokens for `model`, or throws the 429 when a quota has no
   * room for them (nothing is counted then).
   */
  take(model: string, texts: number, tokens: number, now = Date.now()): void {
    if (this.unlimited) return;
    let windows = this.models.get(model);
    if (windows === undefined) {
      windows = { minute: new Window(this.options.windowMs), day: new Window(this.options.dayMs) };
      this.models.set(model, windows);
    }
    windows.minute.prune(now);
    windows.day.prune(now);
    const violations: Record<string, unknown>[] = [];
    let wait = 0;
    const { textsPerMinute, tokensPerMinute, textsPerDay } = this.options;
    const check = (
      window: Window,
      key: "texts" | "tokens",
      amount: number,
      limit: number | undefined,
      quotaId: string,
      metric: string,
    ) => {
      if (limit === undefined) return;
      const delay = window.waitFor(now, key, amount, limit);
      if (delay <= 0) return;
      wait = Math.max(wait, delay);
      violations.push({
        quotaMetric: `generativelanguage.googleapis.com/${metric}`,
        quotaId,
        quotaDimensions: { location: "global", model },
        quotaValue: String(limit),
      });
    };
    check(
      windows.minute,
      "texts",
      texts,
      textsPerMinute,
      "EmbedContentRequestsPerMinutePerUserPerProjectPerModel-FreeTier",
      "embed_content_free_tier_requests",
    );
    check(
      windows.minute,
      "tokens",
      tokens,
      tokensPerMinute,
      "EmbedContentInputTokensPerModelPerMinute-FreeTier",
      "embed_content_free_tier_input_token_count",
    );
    check(
      windows.day,
      "texts",
      texts,
      textsPerDay,
      "EmbedContentRequestsPerDayPerUserPerProjectPerModel-FreeTier",
      "embed_content_free_tier_requests",
    );
    if (violations.length > 0) {
      const delay = formatDuration(wait);
      const lines = violations
        .map(
          (violation) =>
            `* Quota exceeded for metric: ${violation.quotaMetric}, limit: ${violation.quotaValue}, model: ${model}`,
        )
        .join("\n");
      throw new ServerApiError(
        429,
        `You exceeded your current quota, please check your plan and billing details.\n${lines}\nPlease retry in ${delay}.`,
        [
          { "@type": TYPE_URLS.quotaFailure, violations },
          { "@type": TYPE_URLS.retryInfo, retryDelay: delay },
        ],
      );
    }
    const event = { time: now, texts, tokens };
    windows.minute.add(event);
    windows.day.add(event);
  }
}
