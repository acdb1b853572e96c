//! One typed method per route of the API, grouped as docs/api.md groups them.
//! Request and reply shapes come from `paygate-proto`, the crate the server
//! uses too.

use paygate_proto::auth::{AuditEvent, RollApiKey, SecurityPolicy, UpdateSecurityPolicy};
use paygate_proto::checkout::{CheckoutSession, CreateCheckoutSession, CreatedCheckoutSession};
use paygate_proto::payments::{
    CreatePayment, CreateWithdrawal, Deposit, GenerateAddress, Payment, TestDeposit, Wallet, WalletAddress,
    WalletConfig, Withdrawal,
};
use paygate_proto::realtime::{CreateRealtimeToken, RealtimeToken};
use paygate_proto::refunds::{BalanceTransaction, CreateRefund, Refund};
use paygate_proto::types::{ApiKeyInfo, Balance, CreateApiKey, Health, IssuedApiKey, LeakReceipt, LockdownReply};
use paygate_proto::webhooks::{CreateWebhookEndpoint, Delivery, Event, Redeliver, WebhookEndpoint};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::client::{Auth, Client};
use crate::error::Error;
use crate::list::{ListParams, Page, Pager};
use crate::response::decode;

/// An object ID checked before it goes into a path, so no argument can
/// change which route a request reaches (`../`, `?`, `#`).
fn id(value: &str) -> Result<&str, Error> {
    let valid = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(value)
    } else {
        Err(Error::InvalidArgument(format!("{value:?} is not a Paygate object ID")))
    }
}

impl Client {
    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.send_json(Method::GET, path, None::<&()>).await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T, Error> {
        self.send_json(Method::POST, path, Some(body)).await
    }

    /// A `POST` without a body.
    async fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.send_json(Method::POST, path, None::<&()>).await
    }

    fn pager<T: DeserializeOwned>(&self, path: String, params: &ListParams) -> Pager<T> {
        Pager::new(self, path, params.clone())
    }

    // Health (13): no credentials

    /// `GET /healthz`: the process is up.
    pub async fn health(&self) -> Result<Health, Error> {
        decode(&self.execute(Method::GET, "/healthz", None, Auth::Public).await?)
    }

    /// `GET /readyz`: the server can reach its store.
    pub async fn readiness(&self) -> Result<Health, Error> {
        decode(&self.execute(Method::GET, "/readyz", None, Auth::Public).await?)
    }

    // Authentication (4.2)

    /// `DELETE /v1/auth/sessions/{id}`: ends a session and its tokens.
    pub async fn end_session(&self, session_id: &str) -> Result<serde_json::Value, Error> {
        let path = format!("/v1/auth/sessions/{}", id(session_id)?);
        self.send_json(Method::DELETE, &path, None::<&()>).await
    }

    // Balance (8)

    /// `GET /v1/balance`.
    pub async fn balance(&self) -> Result<Balance, Error> {
        self.get("/v1/balance").await
    }

    // API keys (3; need the API secret, so a client with one)

    /// `POST /v1/api-keys`: the only answer that carries the new key and secret.
    pub async fn create_api_key(&self, request: &CreateApiKey) -> Result<IssuedApiKey, Error> {
        self.post("/v1/api-keys", request).await
    }

    /// `GET /v1/api-keys`.
    pub fn list_api_keys(&self, params: &ListParams) -> Pager<ApiKeyInfo> {
        self.pager("/v1/api-keys".to_owned(), params)
    }

    /// `POST /v1/api-keys/{id}/roll`: a new key and secret; the old key
    /// keeps working for `expire_old_in` seconds.
    pub async fn roll_api_key(&self, key_id: &str, request: &RollApiKey) -> Result<IssuedApiKey, Error> {
        self.post(&format!("/v1/api-keys/{}/roll", id(key_id)?), request).await
    }

    /// `DELETE /v1/api-keys/{id}`: revokes at once, with its sessions.
    pub async fn revoke_api_key(&self, key_id: &str) -> Result<ApiKeyInfo, Error> {
        let path = format!("/v1/api-keys/{}", id(key_id)?);
        self.send_json(Method::DELETE, &path, None::<&()>).await
    }

    // Security policy (4.5)

    /// `GET /v1/security/policy`.
    pub async fn security_policy(&self) -> Result<SecurityPolicy, Error> {
        self.get("/v1/security/policy").await
    }

    /// `PUT /v1/security/policy`: fields left out keep their value.
    pub async fn update_security_policy(&self, update: &UpdateSecurityPolicy) -> Result<SecurityPolicy, Error> {
        self.send_json(Method::PUT, "/v1/security/policy", Some(update)).await
    }

    // Payments (8)

    /// `POST /v1/payments`.
    pub async fn create_payment(&self, request: &CreatePayment) -> Result<Payment, Error> {
        self.post("/v1/payments", request).await
    }

    /// `GET /v1/payments/{id}`.
    pub async fn payment(&self, payment_id: &str) -> Result<Payment, Error> {
        self.get(&format!("/v1/payments/{}", id(payment_id)?)).await
    }

    /// `GET /v1/payments`.
    pub fn list_payments(&self, params: &ListParams) -> Pager<Payment> {
        self.pager("/v1/payments".to_owned(), params)
    }

    /// `POST /v1/payments/{id}/cancel`.
    pub async fn cancel_payment(&self, payment_id: &str) -> Result<Payment, Error> {
        self.post_empty(&format!("/v1/payments/{}/cancel", id(payment_id)?))
            .await
    }

    // Refunds and balance transactions

    /// `POST /v1/refunds`: the whole remaining amount unless `amount` is set.
    pub async fn create_refund(&self, request: &CreateRefund) -> Result<Refund, Error> {
        self.post("/v1/refunds", request).await
    }

    /// `GET /v1/refunds/{id}`.
    pub async fn refund(&self, refund_id: &str) -> Result<Refund, Error> {
        self.get(&format!("/v1/refunds/{}", id(refund_id)?)).await
    }

    /// `GET /v1/refunds`.
    pub fn list_refunds(&self, params: &ListParams) -> Pager<Refund> {
        self.pager("/v1/refunds".to_owned(), params)
    }

    /// `GET /v1/balance-transactions` (JSON pages).
    pub fn list_balance_transactions(&self, params: &ListParams) -> Pager<BalanceTransaction> {
        self.pager("/v1/balance-transactions".to_owned(), params)
    }

    // Wallets (8)

    /// `POST /v1/wallet/config`: the merchant's extended public key.
    pub async fn configure_wallet(&self, config: &WalletConfig) -> Result<Wallet, Error> {
        self.post("/v1/wallet/config", config).await
    }

    /// `POST /v1/wallet/generate`: the next unused deposit address.
    pub async fn generate_address(&self, request: &GenerateAddress) -> Result<WalletAddress, Error> {
        self.post("/v1/wallet/generate", request).await
    }

    /// `POST /v1/test/deposits` (test mode): a simulated confirmed deposit.
    pub async fn test_deposit(&self, request: &TestDeposit) -> Result<Deposit, Error> {
        self.post("/v1/test/deposits", request).await
    }

    // Withdrawals (8)

    /// `POST /v1/withdrawal-requests`: reserves the funds (an
    /// `Idempotency-Key` is always sent, as the server requires).
    pub async fn create_withdrawal(&self, request: &CreateWithdrawal) -> Result<Withdrawal, Error> {
        self.post("/v1/withdrawal-requests", request).await
    }

    /// `GET /v1/withdrawal-requests/{id}`.
    pub async fn withdrawal(&self, withdrawal_id: &str) -> Result<Withdrawal, Error> {
        self.get(&format!("/v1/withdrawal-requests/{}", id(withdrawal_id)?))
            .await
    }

    /// `GET /v1/withdrawal-requests`.
    pub fn list_withdrawals(&self, params: &ListParams) -> Pager<Withdrawal> {
        self.pager("/v1/withdrawal-requests".to_owned(), params)
    }

    /// `POST /v1/withdrawal-requests/{id}/approve` (API secret and
    /// `payouts:approve` scope).
    pub async fn approve_withdrawal(&self, withdrawal_id: &str) -> Result<Withdrawal, Error> {
        self.post_empty(&format!("/v1/withdrawal-requests/{}/approve", id(withdrawal_id)?))
            .await
    }

    /// `POST /v1/withdrawal-requests/{id}/reject`: releases the funds.
    pub async fn reject_withdrawal(&self, withdrawal_id: &str) -> Result<Withdrawal, Error> {
        self.post_empty(&format!("/v1/withdrawal-requests/{}/reject", id(withdrawal_id)?))
            .await
    }

    // Checkout sessions (9, the merchant's side)

    /// `POST /v1/checkout/sessions`: hand `session_token` and
    /// `session_secret` (or `url`) to the payor's browser, nothing else.
    pub async fn create_checkout_session(
        &self,
        request: &CreateCheckoutSession,
    ) -> Result<CreatedCheckoutSession, Error> {
        self.post("/v1/checkout/sessions", request).await
    }

    /// `GET /v1/checkout/sessions/{id}`.
    pub async fn checkout_session(&self, session_id: &str) -> Result<CheckoutSession, Error> {
        self.get(&format!("/v1/checkout/sessions/{}", id(session_id)?)).await
    }

    // Realtime (9)

    /// `POST /v1/realtime/tokens`: a single-use socket token, valid 60 s.
    /// [`Client::realtime`] mints one and opens the socket.
    pub async fn create_realtime_token(&self, request: &CreateRealtimeToken) -> Result<RealtimeToken, Error> {
        self.post("/v1/realtime/tokens", request).await
    }

    // Events and webhooks (10)

    /// `GET /v1/events`.
    pub fn list_events(&self, params: &ListParams) -> Pager<Event> {
        self.pager("/v1/events".to_owned(), params)
    }

    /// `GET /v1/events/{id}`.
    pub async fn event(&self, event_id: &str) -> Result<Event, Error> {
        self.get(&format!("/v1/events/{}", id(event_id)?)).await
    }

    /// `POST /v1/events/{id}/redeliver`: to one endpoint, or to every
    /// subscribed one.
    pub async fn redeliver_event(&self, event_id: &str, request: &Redeliver) -> Result<Page<Delivery>, Error> {
        self.post(&format!("/v1/events/{}/redeliver", id(event_id)?), request)
            .await
    }

    /// `POST /v1/webhook-endpoints`: the answer carries the whole secret, once.
    pub async fn create_webhook_endpoint(&self, request: &CreateWebhookEndpoint) -> Result<WebhookEndpoint, Error> {
        self.post("/v1/webhook-endpoints", request).await
    }

    /// `GET /v1/webhook-endpoints` (secrets masked).
    pub fn list_webhook_endpoints(&self, params: &ListParams) -> Pager<WebhookEndpoint> {
        self.pager("/v1/webhook-endpoints".to_owned(), params)
    }

    /// `GET /v1/webhook-endpoints/{id}` (secret masked).
    pub async fn webhook_endpoint(&self, endpoint_id: &str) -> Result<WebhookEndpoint, Error> {
        self.get(&format!("/v1/webhook-endpoints/{}", id(endpoint_id)?)).await
    }

    /// `DELETE /v1/webhook-endpoints/{id}`.
    pub async fn delete_webhook_endpoint(&self, endpoint_id: &str) -> Result<serde_json::Value, Error> {
        let path = format!("/v1/webhook-endpoints/{}", id(endpoint_id)?);
        self.send_json(Method::DELETE, &path, None::<&()>).await
    }

    /// `POST /v1/webhook-endpoints/{id}/secret/rotate`: the new secret, once;
    /// the old one keeps signing beside it for 24 h.
    pub async fn rotate_webhook_secret(&self, endpoint_id: &str) -> Result<WebhookEndpoint, Error> {
        self.post_empty(&format!("/v1/webhook-endpoints/{}/secret/rotate", id(endpoint_id)?))
            .await
    }

    /// `GET /v1/webhook-endpoints/{id}/deliveries`: each delivery and attempt.
    pub fn list_deliveries(&self, endpoint_id: &str, params: &ListParams) -> Result<Pager<Delivery>, Error> {
        let path = format!("/v1/webhook-endpoints/{}/deliveries", id(endpoint_id)?);
        Ok(self.pager(path, params))
    }

    // Audit log (12)

    /// `GET /v1/audit-events` (`audit:read`).
    pub fn list_audit_events(&self, params: &ListParams) -> Pager<AuditEvent> {
        self.pager("/v1/audit-events".to_owned(), params)
    }

    // Incident response (14)

    /// `POST /v1/security/lockdown` (`keys:manage`, and this client's API
    /// secret): stops every key, token, socket token and open checkout
    /// session of this merchant and environment at once, and returns the one
    /// new key and secret, shown this once. Keep the answer before anything
    /// else: the client's own key stops working with the others, so build a
    /// new client from `new_key`. If the answer is lost on the way, the
    /// client's retry carries the revoked key and is refused (`401`): lock
    /// down again from the dashboard or with `paygate merchant lockdown`.
    pub async fn lock_down(&self) -> Result<LockdownReply, Error> {
        self.post_empty("/v1/security/lockdown").await
    }

    // Leaked keys (14)

    /// `POST /v1/leaked-keys`: reports a key found somewhere it should not
    /// be. Sent with no credential of this client's own.
    pub async fn report_leaked_key(&self, key: &str) -> Result<LeakReceipt, Error> {
        let body = serde_json::to_vec(&serde_json::json!({ "key": key })).map_err(|e| Error::Config(e.to_string()))?;
        let raw = self
            .execute(Method::POST, "/v1/leaked-keys", Some(body), Auth::Public)
            .await?;
        decode(&raw)
    }
}

#[cfg(test)]
mod tests {
    use super::id;

    #[test]
    fn ids_cannot_change_the_route() {
        assert!(id("pay_AbC123-x").is_ok());
        for bad in ["", "../balance", "pay_1?x=1", "pay_1#", "a/b", "pay 1", "pay_%2F"] {
            assert!(id(bad).is_err(), "{bad}");
        }
    }
}
