/**
 * Error answers of the local server, as the real API sends them: a `google.rpc.Status` body
 * `{"error":{"code","message","status","details"?}}`.
 *
 * @module
 */

import type { AnyMessage, Status } from "gembed";
import { TYPE_URLS } from "gembed/internal";

const STATUS_NAMES: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ALREADY_EXISTS",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

/** An error the server answers with its HTTP status and `google.rpc.Status` body. */
export class ServerApiError extends Error {
  override name = "ServerApiError";
  /** The HTTP status. */
  readonly httpStatus: number;
  /** The status name, e.g. `INVALID_ARGUMENT`. */
  readonly status: string;
  /** `google.rpc.Status.details`. */
  readonly details: AnyMessage[] | undefined;

  constructor(httpStatus: number, message: string, details?: AnyMessage[], status?: string) {
    super(message);
    this.httpStatus = httpStatus;
    this.status = status ?? STATUS_NAMES[httpStatus] ?? "UNKNOWN";
    this.details = details;
  }

  /** The `google.rpc.Status` of this error. */
  toStatus(): Status {
    const status: Status = { code: this.httpStatus, message: this.message, status: this.status };
    if (this.details !== undefined && this.details.length > 0) status.details = this.details;
    return status;
  }

  /** The JSON body `{"error": Status}`. */
  toBody(): { error: Status } {
    return { error: this.toStatus() };
  }
}

/** 400 INVALID_ARGUMENT, with `BadRequest.fieldViolations` when fields are named. */
export function invalidArgument(
  message: string,
  violations?: { field: string; description: string }[],
): ServerApiError {
  const details =
    violations !== undefined && violations.length > 0
      ? [{ "@type": TYPE_URLS.badRequest, fieldViolations: violations }]
      : undefined;
  return new ServerApiError(400, message, details);
}

/** 404 NOT_FOUND. */
export function notFound(message: string): ServerApiError {
  return new ServerApiError(404, message);
}

/** The answer to a missing or wrong API key (400 `API_KEY_INVALID`, like the real API). */
export function apiKeyInvalid(): ServerApiError {
  return new ServerApiError(400, "API key not valid. Please pass a valid API key.", [
    {
      "@type": TYPE_URLS.errorInfo,
      reason: "API_KEY_INVALID",
      domain: "googleapis.com",
      metadata: { service: "generativelanguage.googleapis.com" },
    },
    {
      "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
      locale: "en-US",
      message: "API key not valid. Please pass a valid API key.",
    },
  ]);
}

/** Formats a wait as a `google.protobuf.Duration` string: `"12s"`, `"0.350s"`. */
export function formatDuration(milliseconds: number): string {
  const whole = Math.max(0, Math.ceil(milliseconds));
  if (whole % 1000 === 0) return `${whole / 1000}s`;
  return `${(whole / 1000).toFixed(3)}s`;
}

/** RFC 3339 time with milliseconds and `Z`, e.g. `2025-09-10T14:42:07.160Z`. */
export function rfc3339(time: number): string {
  return new Date(time).toISOString();
}
