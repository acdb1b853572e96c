//! Schemas of the answers whose handlers build their JSON without a typed
//! struct of their own (list pages, events, the two deleting routes), so the
//! OpenAPI document describes every body the server sends. They are only
//! descriptions: nothing constructs them.

use paygate_proto::auth::AuditEvent;
use paygate_proto::payments::{Payment, Withdrawal};
use paygate_proto::refunds::{BalanceTransaction, Refund};
use paygate_proto::types::ApiKeyInfo;
use paygate_proto::webhooks::{Delivery, WebhookEndpoint};
use paygate_proto::Environment;
use serde::Serialize;
use utoipa::ToSchema;

/// The `object` of every list page: always `list`.
#[derive(Serialize, ToSchema)]
pub enum ListObject {
    #[serde(rename = "list")]
    List,
}

/// A list page's schema: `{object: "list", data: [...], has_more,
/// next_cursor}`, with `data` typed per item.
macro_rules! list_schema {
    ($($(#[$doc:meta])* $name:ident => $item:ty;)+) => {$(
        $(#[$doc])*
        #[derive(ToSchema)]
        pub struct $name {
            pub object: ListObject,
            pub data: Vec<$item>,
            /// Whether another page follows this one.
            pub has_more: bool,
            /// The `cursor` of the next page; `null` on the last page.
            #[schema(required = true)]
            pub next_cursor: Option<String>,
        }
    )+};
}

list_schema! {
    /// A page of payments.
    PaymentList => Payment;
    /// A page of withdrawal requests.
    WithdrawalList => Withdrawal;
    /// A page of events, newest first.
    EventList => Event;
    /// A page of webhook endpoints, secrets masked.
    WebhookEndpointList => WebhookEndpoint;
    /// Webhook deliveries, each with every attempt: a page of an endpoint's
    /// log, or the deliveries a redelivery planned (one page, `has_more`
    /// false).
    DeliveryList => Delivery;
    /// A page of the API keys that still work, masked.
    ApiKeyList => ApiKeyInfo;
    /// A page of audit events.
    AuditEventList => AuditEvent;
    /// A page of refunds.
    RefundList => Refund;
    /// A page of balance transactions, each with the balance after it.
    BalanceTransactionList => BalanceTransaction;
}

/// Something that happened to one of the merchant's objects, as
/// `GET /v1/events` lists it and webhooks deliver it.
#[derive(ToSchema)]
pub struct Event {
    /// `evt_...`
    pub id: String,
    /// The event type, e.g. `payment.succeeded`.
    #[schema(rename = "type")]
    pub event_type: String,
    pub created_at: String,
    pub env: Environment,
    pub data: EventData,
}

/// What an event reports.
#[derive(ToSchema)]
pub struct EventData {
    /// The object as it was when the event happened (a payment, a
    /// withdrawal, an API key, ...).
    #[schema(value_type = Object)]
    pub object: serde_json::Value,
}

/// `DELETE /v1/webhook-endpoints/{id}`: the endpoint is gone, with its
/// deliveries.
#[derive(ToSchema)]
pub struct DeletedWebhookEndpoint {
    pub id: String,
    /// `webhook_endpoint`
    pub object: String,
    /// Always `true`.
    pub deleted: bool,
}

/// `DELETE /v1/auth/sessions/{id}`: the session and its tokens no longer
/// work.
#[derive(ToSchema)]
pub struct RevokedSession {
    pub id: String,
    /// `session`
    pub object: String,
    /// Always `true`.
    pub revoked: bool,
}
