// The errors the SDK throws: API answers (problem+json), transport
// failures, refused configuration and refused webhook deliveries. None
// carries a credential: messages are built from the server's public problem
// document or from fixed text, never from request headers.

/** One field of a `validation_failed` answer. */
export interface FieldError {
  field: string;
  message: string;
}

/** The base of every error the SDK throws. */
export class PaygateBaseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * The server answered with an error (a problem+json document, RFC 9457).
 * `code` is the stable error code (`insufficient_funds`, `rate_limited`...),
 * `requestId` the id to quote to support.
 */
export class PaygateError extends PaygateBaseError {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | undefined;
  readonly title: string | undefined;
  readonly detail: string | undefined;
  readonly type: string | undefined;
  readonly errors: FieldError[];
  /** Seconds from `Retry-After`, on a 429 or 503. */
  readonly retryAfter: number | undefined;

  constructor(init: {
    status: number;
    code: string;
    requestId?: string | undefined;
    title?: string | undefined;
    detail?: string | undefined;
    type?: string | undefined;
    errors?: FieldError[] | undefined;
    retryAfter?: number | undefined;
  }) {
    const text = init.detail ?? init.title ?? "the server refused the request";
    super(`${init.status} ${init.code}: ${text}${init.requestId ? ` (request ${init.requestId})` : ""}`);
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.title = init.title;
    this.detail = init.detail;
    this.type = init.type;
    this.errors = init.errors ?? [];
    this.retryAfter = init.retryAfter;
  }
}

/** The request got no usable answer: connection refused, reset, timed out, TLS refused. */
export class PaygateConnectionError extends PaygateBaseError {
  /** The Node.js error code (`ECONNRESET`, `DEPTH_ZERO_SELF_SIGNED_CERT`...), when there is one. */
  readonly errno: string | undefined;
  /** `true` when TLS refused the server's certificate: never retried. */
  readonly tls: boolean;

  constructor(message: string, errno: string | undefined, tls: boolean) {
    super(message);
    this.errno = errno;
    this.tls = tls;
  }
}

/** The client was given something it refuses: a non-https URL, a malformed key, an ID that is not an ID. */
export class PaygateConfigError extends PaygateBaseError {}

/** Why a webhook delivery was refused. Answer it with a 4xx and do not act on it. */
export type WebhookErrorReason =
  | "missing_header"
  | "malformed_header"
  | "timestamp_out_of_range"
  | "invalid_signature"
  | "invalid_payload"
  | "invalid_secret";

/** A webhook delivery failed verification. */
export class WebhookVerificationError extends PaygateBaseError {
  readonly reason: WebhookErrorReason;

  constructor(reason: WebhookErrorReason, message: string) {
    super(message);
    this.reason = reason;
  }
}
