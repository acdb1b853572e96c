// Keys and security: API keys (create, roll, revoke), token sessions, the
// audit log, the security policy, lockdown and leaked-key reports.

import type { RequestOptions } from "../core.js";
import type { ListParams, PageIterator } from "../pagination.js";
import type * as T from "../types.js";
import { id, Resource } from "./base.js";

export class ApiKeys extends Resource {
  /** `POST /v1/api-keys` (needs the API secret): the only answer that carries the new key and secret. */
  create(params: T.CreateApiKey, options?: RequestOptions): Promise<T.IssuedApiKey> {
    return this.post("/v1/api-keys", params, options);
  }

  /** `GET /v1/api-keys`. */
  list(params?: ListParams): PageIterator<T.ApiKeyInfo> {
    return this.paginate("/v1/api-keys", params);
  }

  /** `POST /v1/api-keys/{id}/roll`: a new key and secret; the old key keeps working for `expire_old_in` seconds. */
  roll(keyId: string, params: T.RollApiKey = {}, options?: RequestOptions): Promise<T.IssuedApiKey> {
    return this.post(`/v1/api-keys/${id(keyId)}/roll`, params, options);
  }

  /** `DELETE /v1/api-keys/{id}`: revokes at once, with every session made from it. */
  revoke(keyId: string, options?: RequestOptions): Promise<T.ApiKeyInfo> {
    return this.send("DELETE", `/v1/api-keys/${id(keyId)}`, undefined, options);
  }
}

export class AuthSessions extends Resource {
  /** `POST /v1/auth/token`: a new access token and session (clients with `auth: "token"` do this themselves). */
  create(): Promise<T.TokenResponse> {
    return this.core.exchangeToken() as Promise<T.TokenResponse>;
  }

  /** `DELETE /v1/auth/sessions/{id}`: ends a session and its tokens. */
  end(sessionId: string, options?: RequestOptions): Promise<T.EndedSession> {
    return this.send("DELETE", `/v1/auth/sessions/${id(sessionId)}`, undefined, options);
  }
}

export class AuditEvents extends Resource {
  /** `GET /v1/audit-events` (`audit:read`). */
  list(params?: ListParams): PageIterator<T.AuditEvent> {
    return this.paginate("/v1/audit-events", params);
  }
}

export class SecurityPolicy extends Resource {
  /** `GET /v1/security/policy`. */
  retrieve(): Promise<T.SecurityPolicy> {
    return this.get("/v1/security/policy");
  }

  /** `PUT /v1/security/policy`: fields left out keep their value. */
  update(params: T.UpdateSecurityPolicy, options?: RequestOptions): Promise<T.SecurityPolicy> {
    return this.send("PUT", "/v1/security/policy", params, options);
  }
}

export class Lockdown extends Resource {
  /**
   * `POST /v1/security/lockdown` (needs the API secret): stops every key,
   * token, socket token and open checkout session of this merchant and
   * environment at once, and returns one new key and secret, shown this once.
   * This client's own key stops working with the others: build a new client
   * from the answer.
   */
  create(options?: RequestOptions): Promise<T.LockdownReply> {
    return this.post("/v1/security/lockdown", {}, options);
  }
}

export class LeakedKeys extends Resource {
  /** `POST /v1/leaked-keys`: reports a key found where it should not be. Sent with no credential of this client's own. */
  report(key: string, options?: RequestOptions): Promise<T.LeakReceipt> {
    return this.core.json("POST", "/v1/leaked-keys", { key }, options, "public");
  }
}

export class Health extends Resource {
  /** `GET /healthz`: the process is up (no credentials). */
  live(): Promise<T.Health> {
    return this.core.json("GET", "/healthz", undefined, {}, "public");
  }

  /** `GET /readyz`: the server can reach its store (no credentials). */
  ready(): Promise<T.Health> {
    return this.core.json("GET", "/readyz", undefined, {}, "public");
  }
}
