//! Builds the shared state and the router: the one place that wires
//! transport, authentication and resources together.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{delete, get, post};
use axum::Router;
use paygate_proto::ErrorCode;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::http::json::BODY_LIMIT;
use crate::http::{response, ApiError};
use crate::store::Store;
use crate::{
    api_keys, audit_events, auth, balance, docs, events, health, openapi, payments, realtime, security_policy,
    sessions, wallets, webhooks, withdrawals,
};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    config: Config,
    store: Store,
    master_key: MasterKey,
    clock: Arc<dyn Clock>,
    idempotency_claims: crate::idempotency::Claims,
    webhooks: crate::webhooks::Webhooks,
    realtime: crate::realtime::RealtimeHub,
    auth: crate::auth::AuthServices,
    signer: Option<Arc<crate::chain::signer_client::SignerClient>>,
}

impl AppState {
    pub fn new(config: Config, store: Store, master_key: MasterKey, clock: Arc<dyn Clock>) -> Self {
        Self::with_signer(config, store, master_key, clock, None)
    }

    /// [`AppState::new`] with the signer's client (`paygate serve` with a chain).
    pub fn with_signer(
        config: Config,
        store: Store,
        master_key: MasterKey,
        clock: Arc<dyn Clock>,
        signer: Option<Arc<crate::chain::signer_client::SignerClient>>,
    ) -> Self {
        let auth = crate::auth::AuthServices::new(&config, &store);
        Self(Arc::new(Inner {
            config,
            store,
            master_key,
            clock,
            idempotency_claims: crate::idempotency::Claims::default(),
            webhooks: crate::webhooks::Webhooks::default(),
            realtime: Default::default(),
            auth,
            signer,
        }))
    }

    /// The signer's client; None when no chain is configured (or in CLI
    /// commands, which never sign).
    pub fn signer(&self) -> Option<&Arc<crate::chain::signer_client::SignerClient>> {
        self.0.signer.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    pub fn master_key(&self) -> &MasterKey {
        &self.0.master_key
    }

    /// Idempotency keys whose first request is running in this process.
    pub fn idempotency_claims(&self) -> &crate::idempotency::Claims {
        &self.0.idempotency_claims
    }

    /// The webhook worker's handle: its resolver and its wake-up call.
    pub fn webhooks(&self) -> &crate::webhooks::Webhooks {
        &self.0.webhooks
    }

    /// This instance's realtime sockets.
    pub fn realtime(&self) -> &crate::realtime::RealtimeHub {
        &self.0.realtime
    }

    /// Now, as Unix seconds, from the configured clock.
    pub fn now(&self) -> i64 {
        self.0.clock.unix()
    }

    /// Now, as Unix milliseconds, from the configured clock.
    pub fn now_millis(&self) -> i64 {
        self.0.clock.unix_millis()
    }

    /// Credential caches, tokens, replay guard, limiter, decision audit.
    pub fn auth(&self) -> &crate::auth::AuthServices {
        &self.0.auth
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let merchant_api = Router::new()
        .route("/v1/balance", get(balance::get_balance))
        .route("/v1/api-keys", post(api_keys::create).get(api_keys::list))
        .route("/v1/api-keys/{id}", delete(api_keys::revoke))
        .route("/v1/api-keys/{id}/roll", post(api_keys::roll))
        .route("/v1/auth/token", post(sessions::exchange))
        .route("/v1/auth/sessions/{id}", delete(sessions::end))
        .route(
            "/v1/security/policy",
            get(security_policy::get).put(security_policy::put),
        )
        .route("/v1/security/lockdown", post(crate::lockdown::post))
        .route("/v1/audit-events", get(audit_events::list))
        .route(
            "/v1/webhook-endpoints",
            post(webhooks::endpoints::create).get(webhooks::endpoints::list),
        )
        .route(
            "/v1/webhook-endpoints/{id}",
            get(webhooks::endpoints::get).delete(webhooks::endpoints::delete),
        )
        .route(
            "/v1/webhook-endpoints/{id}/secret/rotate",
            post(webhooks::endpoints::rotate),
        )
        .route(
            "/v1/webhook-endpoints/{id}/deliveries",
            get(webhooks::deliveries::deliveries),
        )
        .route("/v1/events/{id}/redeliver", post(webhooks::deliveries::redeliver))
        .route("/v1/realtime/tokens", post(realtime::create_token))
        .route("/v1/payments", post(payments::create).get(payments::list))
        .route("/v1/payments/{id}", get(payments::get))
        .route("/v1/payments/{id}/cancel", post(payments::cancel))
        .route("/v1/refunds", post(crate::refunds::create).get(crate::refunds::list))
        .route("/v1/refunds/{id}", get(crate::refunds::get))
        .route("/v1/balance-transactions", get(crate::balance_transactions::list))
        .route("/v1/wallet/config", post(wallets::configure))
        .route("/v1/wallet/generate", post(wallets::generate))
        .route("/v1/test/deposits", post(wallets::test_deposit))
        .route(
            "/v1/withdrawal-requests",
            post(withdrawals::create).get(withdrawals::list),
        )
        .route("/v1/withdrawal-requests/{id}", get(withdrawals::get))
        .route("/v1/withdrawal-requests/{id}/approve", post(withdrawals::approve))
        .route("/v1/withdrawal-requests/{id}/reject", post(withdrawals::reject))
        .route("/v1/events", get(events::list))
        .route("/v1/checkout/sessions", post(crate::checkout::create))
        .route("/v1/checkout/sessions/{id}", get(crate::checkout::get))
        .route("/v1/events/{id}", get(events::get))
        .route_layer(middleware::from_fn(crate::http::no_body::refuse_unread_body))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::authenticate));

    let open = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/docs/errors", get(docs::errors))
        .route("/.well-known/jwks.json", get(auth::tokens::jwks))
        .route("/v1/openapi.json", get(openapi::document))
        .route("/v1/realtime", get(realtime::connect))
        .route("/v1/leaked-keys", post(crate::leaked_keys::report))
        .route("/v1/payor/session", get(crate::checkout::payor_session))
        .route("/v1/payor/session/pay", post(crate::checkout::payor_pay))
        .route("/v1/payor/session/realtime", post(crate::checkout::payor_realtime))
        .route_layer(middleware::from_fn(crate::http::no_body::refuse_unread_body));

    Router::new()
        .merge(open)
        .merge(merchant_api)
        .merge(crate::dashboard::router())
        .merge(crate::hosted::router())
        .fallback(|| async { ApiError::new(ErrorCode::NotFound) })
        .method_not_allowed_fallback(|| async { ApiError::new(ErrorCode::MethodNotAllowed) })
        .layer(middleware::from_fn(crate::http::target::refuse_control_characters))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestBodyTimeoutLayer::new(Duration::from_secs(
            state.config().connections.body_timeout_secs,
        )))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::internal("handler panicked"))
        }))
        .layer(middleware::from_fn_with_state(state.clone(), crate::limits::per_ip))
        .layer(middleware::from_fn_with_state(
            response::Transport {
                tls_off: state.config().tls.mode == crate::config::TlsMode::Off,
                trusted_proxies: state.config().tls.trusted_proxies.clone().into(),
            },
            response::finish,
        ))
        .layer(middleware::from_fn(crate::http::drain::drain_unread))
        .with_state(state)
}
