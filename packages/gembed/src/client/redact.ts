/**
 * Keeps API keys out of error messages: a server (or a proxy) may echo the key it received, and
 * an error message or body excerpt built from that answer must not carry it on.
 *
 * @module
 */

/** What a key is replaced with. */
const REDACTED = "[redacted]";

/**
 * Replaces every occurrence of `secret` in `text` (and any `key=` query parameter) with
 * `[redacted]`.
 */
export function redactText(text: string, secret: string | undefined): string {
  let result = text.replace(/([?&]key=)[^&#\s"']+/gi, `$1${REDACTED}`);
  if (secret) result = result.split(secret).join(REDACTED);
  return result;
}

/** A deep copy of a parsed JSON value in which every string has been passed to {@link redactText}. */
export function redactJson<T>(value: T, secret: string | undefined): T {
  if (typeof value === "string") return redactText(value, secret) as T;
  if (Array.isArray(value)) return value.map((item) => redactJson(item, secret)) as T;
  if (value !== null && typeof value === "object") {
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) copy[key] = redactJson(item, secret);
    return copy as T;
  }
  return value;
}
