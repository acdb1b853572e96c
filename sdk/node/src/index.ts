// @paygate/node: Paygate's server-side SDK for Node.js.

export { Paygate, type PaygateOptions } from "./client.js";
export type { AuthMode } from "./auth.js";
export type { RequestOptions } from "./core.js";
export {
  PaygateBaseError,
  PaygateConfigError,
  PaygateConnectionError,
  PaygateError,
  WebhookVerificationError,
  type FieldError,
  type WebhookErrorReason,
} from "./errors.js";
export { PageIterator, type ListParams, type Page } from "./pagination.js";
export type { BalanceTransactionListParams, RefundListParams } from "./resources/refunds.js";
export { DEFAULT_RETRY, type RetryPolicy } from "./retry.js";
export { signRequest } from "./signing.js";
export { plainSignature, standardSignature, verifyWebhook, type VerifyOptions, type WebhookEvent, type WebhookHeaders } from "./webhook.js";
export type * from "./types.js";
export type { components, paths } from "./generated/openapi.js";
