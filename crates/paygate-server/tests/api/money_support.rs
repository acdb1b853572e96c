//! Helpers for the money tests: a merchant's client that speaks JSON with
//! its key (and secret when asked), funding by test card, balances, and a
//! live key for the same merchant.

use paygate_proto::{Environment, MerchantId};
use paygate_server::config::{Config, Limit};
use paygate_server::keys::{issue_key, KeySpec};
use serde_json::{json, Value};

use crate::support::TestApp;

/// Rate limits far above what a test sends, so tests of money measure money.
pub fn generous_limits(config: &mut Config) {
    let many = Limit {
        limit: 1_000_000,
        window_secs: 60,
    };
    let limits = &mut config.rate_limits;
    limits.financial = many;
    limits.wallet = many;
    limits.standard = many;
    limits.merchant = many;
}

#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base_url: String,
    pub key: String,
    pub secret: Option<String>,
}

/// A reply: status, body, and whether it was a replay.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub replayed: bool,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    pub fn id(&self) -> String {
        self.body["id"].as_str().expect("an object with an id").to_owned()
    }

    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "{}", self.body);
        self.body
    }
}

impl Api {
    pub fn sandbox(app: &TestApp) -> Api {
        Api {
            http: app.http(),
            base_url: app.base_url.clone(),
            key: app.key.clone(),
            secret: Some(app.secret.clone()),
        }
    }

    pub fn without_secret(&self) -> Api {
        Api {
            secret: None,
            ..self.clone()
        }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>, idempotency_key: Option<&str>) -> Reply {
        let url = format!("{}{path}", self.base_url);
        let mut request = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url),
        }
        .header("x-api-key", &self.key);
        if let Some(secret) = &self.secret {
            request = request.header("x-api-secret", secret);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true");
        let body = response.json().await.unwrap_or(Value::Null);
        Reply { status, body, replayed }
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(&body), None).await
    }

    /// A `POST` with no body, for the routes that take none.
    pub async fn post_empty(&self, path: &str) -> Reply {
        self.send("POST", path, None, None).await
    }

    pub async fn post_idem(&self, path: &str, body: Value, key: &str) -> Reply {
        self.send("POST", path, Some(&body), Some(key)).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None, None).await
    }

    /// The merchant's balance in one currency: (available, pending, reserved).
    pub async fn balance(&self, currency: &str) -> (i64, i64, i64) {
        let body = self.get("/v1/balance").await.ok();
        let b = &body["balances"][currency];
        (
            b["available"].as_i64().unwrap_or(0),
            b["pending"].as_i64().unwrap_or(0),
            b["reserved"].as_i64().unwrap_or(0),
        )
    }

    /// Pays `amount` in by test card (4242...): credits `available`.
    pub async fn fund(&self, amount: i64, currency: &str) -> Value {
        let payment = self
            .post("/v1/payments", card_payment(amount, currency, "4242424242424242"))
            .await
            .ok();
        assert_eq!(payment["status"], "succeeded", "{payment}");
        payment
    }

    pub async fn withdraw(&self, amount: i64, currency: &str, key: &str) -> Reply {
        self.post_idem(
            "/v1/withdrawal-requests",
            json!({"amount": amount, "currency": currency, "destination": iban_destination()}),
            key,
        )
        .await
    }
}

pub fn card_payment(amount: i64, currency: &str, number: &str) -> Value {
    json!({
        "amount": amount, "currency": currency, "method": "card",
        "card": {"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}
    })
}

pub fn iban_destination() -> Value {
    json!({"type": "bank", "iban": "GB82WEST12345698765432", "name": "Ada Lovelace"})
}

/// A live key and secret for the sandbox merchant.
pub async fn live_api(app: &TestApp) -> Api {
    let state = &app.running.state;
    let merchant = MerchantId::parse(&app.merchant_id).expect("merchant id");
    let issued = issue_key(
        state.store(),
        state.master_key(),
        &merchant,
        Environment::Live,
        &KeySpec::named("live"),
        state.now(),
    )
    .await
    .expect("live key");
    Api {
        http: app.http(),
        base_url: app.base_url.clone(),
        key: issued.key.expose().to_owned(),
        secret: Some(issued.secret.expose().to_owned()),
    }
}

/// `paygate ledger verify` on the app's database (SQLite in its data
/// directory, or its PostgreSQL database): (clean, report).
pub fn ledger_verify(app: &TestApp) -> (bool, Value) {
    let out = app.cli(&["--json", "ledger", "verify"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.success() && report["ok"] == true, report)
}

/// The id in a complete `200` reply to a create; `None` for anything short
/// of one (an error, a cut connection, a body cut off), which was not
/// acknowledged.
pub async fn acknowledged_id(outcome: reqwest::Result<reqwest::Response>) -> Option<String> {
    let response = outcome.ok()?;
    if response.status() != 200 {
        return None;
    }
    let body = response.json::<Value>().await.ok()?;
    Some(body["id"].as_str().unwrap_or_default().to_owned())
}
