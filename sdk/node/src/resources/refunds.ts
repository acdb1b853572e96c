// Refunds of succeeded payments, and the balance's history (balance
// transactions): every movement of `available`, filterable by time range
// and currency.

import type { RequestOptions } from "../core.js";
import type { ListParams, PageIterator } from "../pagination.js";
import type * as T from "../types.js";
import { id, Resource } from "./base.js";

/** `GET /v1/refunds` parameters: the list parameters and the payment filter. */
export interface RefundListParams extends ListParams {
  /** Only the refunds of this payment (`pay_...`). */
  payment?: string;
}

/** `GET /v1/balance-transactions` parameters: the list parameters and a range. */
export interface BalanceTransactionListParams extends ListParams {
  /** Movements at or after this time (RFC 3339, or a `YYYY-MM-DD` day in UTC). */
  from?: string;
  /** Movements before this time (RFC 3339, or a `YYYY-MM-DD` day in UTC). */
  to?: string;
  /** Only this currency (`USD`, `BTC`, ...). */
  currency?: string;
}

export class Refunds extends Resource {
  /** `POST /v1/refunds`: without `amount`, refunds what remains of the payment (an Idempotency-Key is always sent). */
  create(params: T.CreateRefund, options?: RequestOptions): Promise<T.Refund> {
    return this.post("/v1/refunds", params, options);
  }

  /** `GET /v1/refunds/{id}`. */
  retrieve(refundId: string): Promise<T.Refund> {
    return this.get(`/v1/refunds/${id(refundId)}`);
  }

  /** `GET /v1/refunds`: await it for one page, or `for await` over every refund. */
  list(params: RefundListParams = {}): PageIterator<T.Refund> {
    const { payment, ...list } = params;
    return this.paginate("/v1/refunds", list, { payment: payment === undefined ? undefined : id(payment) });
  }
}

export class BalanceTransactions extends Resource {
  /** `GET /v1/balance-transactions` (JSON pages): await it for one page, or `for await` over every movement. */
  list(params: BalanceTransactionListParams = {}): PageIterator<T.BalanceTransaction> {
    const { from, to, currency, ...list } = params;
    return this.paginate("/v1/balance-transactions", list, { from, to, currency });
  }
}
