// Money-moving resources: payments, checkout sessions, withdrawals (with
// approval), wallets, the balance and test-mode deposits.

import type { RequestOptions } from "../core.js";
import type { ListParams, PageIterator } from "../pagination.js";
import type * as T from "../types.js";
import { id, Resource } from "./base.js";

export class Payments extends Resource {
  /** `POST /v1/payments`. */
  create(params: T.CreatePayment, options?: RequestOptions): Promise<T.Payment> {
    return this.post("/v1/payments", params, options);
  }

  /** `GET /v1/payments/{id}`. */
  retrieve(paymentId: string): Promise<T.Payment> {
    return this.get(`/v1/payments/${id(paymentId)}`);
  }

  /** `GET /v1/payments`: await it for one page, or `for await` over every payment. */
  list(params?: ListParams): PageIterator<T.Payment> {
    return this.paginate("/v1/payments", params);
  }

  /** `POST /v1/payments/{id}/cancel`. */
  cancel(paymentId: string, options?: RequestOptions): Promise<T.Payment> {
    return this.post(`/v1/payments/${id(paymentId)}/cancel`, undefined, options);
  }
}

export class CheckoutSessions extends Resource {
  /** `POST /v1/checkout/sessions`: hand `session_token` and `session_secret` (or `url`) to the payor's browser, nothing else. */
  create(params: T.CreateCheckoutSession, options?: RequestOptions): Promise<T.CreatedCheckoutSession> {
    return this.post("/v1/checkout/sessions", params, options);
  }

  /** `GET /v1/checkout/sessions/{id}`. */
  retrieve(sessionId: string): Promise<T.CheckoutSession> {
    return this.get(`/v1/checkout/sessions/${id(sessionId)}`);
  }
}

export class Withdrawals extends Resource {
  /** `POST /v1/withdrawal-requests`: reserves the funds (an Idempotency-Key is always sent). */
  create(params: T.CreateWithdrawal, options?: RequestOptions): Promise<T.Withdrawal> {
    return this.post("/v1/withdrawal-requests", params, options);
  }

  /** `GET /v1/withdrawal-requests/{id}`. */
  retrieve(withdrawalId: string): Promise<T.Withdrawal> {
    return this.get(`/v1/withdrawal-requests/${id(withdrawalId)}`);
  }

  /** `GET /v1/withdrawal-requests`. */
  list(params?: ListParams): PageIterator<T.Withdrawal> {
    return this.paginate("/v1/withdrawal-requests", params);
  }

  /** `POST /v1/withdrawal-requests/{id}/approve` (needs the API secret and `payouts:approve`). */
  approve(withdrawalId: string, options?: RequestOptions): Promise<T.Withdrawal> {
    return this.post(`/v1/withdrawal-requests/${id(withdrawalId)}/approve`, undefined, options);
  }

  /** `POST /v1/withdrawal-requests/{id}/reject`: releases the funds. */
  reject(withdrawalId: string, options?: RequestOptions): Promise<T.Withdrawal> {
    return this.post(`/v1/withdrawal-requests/${id(withdrawalId)}/reject`, undefined, options);
  }
}

export class Wallet extends Resource {
  /** `POST /v1/wallet/config`: the merchant's extended public key. */
  configure(params: T.WalletConfig, options?: RequestOptions): Promise<T.WalletInfo> {
    return this.post("/v1/wallet/config", params, options);
  }

  /** `POST /v1/wallet/generate`: the next unused deposit address. */
  generateAddress(params: T.GenerateAddress, options?: RequestOptions): Promise<T.WalletAddress> {
    return this.post("/v1/wallet/generate", params, options);
  }
}

export class Balance extends Resource {
  /** `GET /v1/balance`. */
  retrieve(): Promise<T.Balance> {
    return this.get("/v1/balance");
  }
}

export class TestHelpers extends Resource {
  /** `POST /v1/test/deposits` (test mode): a simulated confirmed deposit to a generated address. */
  deposit(params: T.TestDeposit, options?: RequestOptions): Promise<T.Deposit> {
    return this.post("/v1/test/deposits", params, options);
  }
}
