// When a request is sent again, and after how long.
//
// Only requests that are safe to repeat are retried: GET and PUT, and a POST
// that carries an Idempotency-Key (the server replays the first answer
// instead of acting twice). A 429 is retried whatever the method: the server
// refused it before it ran. Waits grow exponentially with full jitter, and a
// Retry-After on a 429 or 503 is honoured as given. A certificate TLS refused
// is never tried again.

import { randomInt } from "node:crypto";

export interface RetryPolicy {
  /** Retries after the first attempt (0 turns retrying off). Default 3. */
  maxRetries: number;
  /** The cap of the first backoff in ms; it doubles at each retry. Default 500. */
  baseDelayMs: number;
  /** No backoff is longer than this (ms). Default 8000. */
  maxDelayMs: number;
  /** A Retry-After longer than this (seconds) is not waited for. Default 60. */
  maxRetryAfterSecs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 3, baseDelayMs: 500, maxDelayMs: 8000, maxRetryAfterSecs: 60 };

/** What went wrong with one attempt, as far as retrying is concerned. */
export type Outcome =
  | { kind: "transport"; tls: boolean }
  | { kind: "answered"; status: number; code: string | undefined; retryAfter: number | undefined };

/** The wait (ms) before retry number `retry` (0-based), or `undefined` when the attempt must not be repeated. */
export function retryDelay(policy: RetryPolicy, retry: number, safeToRepeat: boolean, outcome: Outcome): number | undefined {
  if (retry >= policy.maxRetries) return undefined;
  if (outcome.kind === "transport") {
    return safeToRepeat && !outcome.tls ? backoff(policy, retry) : undefined;
  }
  if (outcome.status === 429 || (outcome.status === 503 && safeToRepeat)) {
    return after(policy, retry, outcome.retryAfter);
  }
  if (!safeToRepeat) return undefined;
  const transient = [500, 502, 504].includes(outcome.status) || outcome.code === "idempotency_in_progress";
  return transient ? backoff(policy, retry) : undefined;
}

function after(policy: RetryPolicy, retry: number, retryAfter: number | undefined): number | undefined {
  if (retryAfter === undefined) return backoff(policy, retry);
  if (retryAfter > policy.maxRetryAfterSecs) return undefined;
  // A little past the time given, so the slot has surely freed.
  return retryAfter * 1000 + randomInt(0, 101);
}

/** Full jitter: uniform between zero and min(maxDelay, base * 2^retry). */
export function backoff(policy: RetryPolicy, retry: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(retry, 30));
  return randomInt(0, Math.floor(cap) + 1);
}

/** `Retry-After` as whole seconds, when it is one. */
export function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^\s*\d+\s*$/.test(text)) return undefined;
  return Number(text.trim());
}
