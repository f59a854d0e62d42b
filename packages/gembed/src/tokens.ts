/**
 * The token estimate gembed uses on both sides (the local server's quotas, `usageMetadata` and
 * input limit; the client's tokens-per-minute limiter and over-limit warnings).
 *
 * Gemini's tokenizer is not public, so this is an estimate: one token per 4 UTF-16 code units,
 * rounded up, at least 1 for a non-empty text. It is close to the real count for English prose
 * (Google documents "about 4 characters per token") and fast (no allocation).
 *
 * @module
 */

/** Estimated Gemini token count of a text. */
export function estimateTokens(text: string): number {
  if (text.length === 0) return 0;
  return Math.ceil(text.length / 4);
}
