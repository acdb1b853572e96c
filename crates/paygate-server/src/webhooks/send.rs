//! One delivery attempt: vet the URL again, sign afresh with every active
//! secret, POST through the guarded client (no proxy, no redirects, the
//! configured timeout), and keep the status and the first 1 KiB of the answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use paygate_proto::webhooks::{self as wire, WebhookSecret};

use super::db::Claimed;
use super::egress::{self, EgressError, GuardedResolver, Policy, ResolverSlot};
use super::secret_context;
use crate::crypto::{CryptoError, MasterKey};

/// How much of a receiver's answer is kept in the delivery log.
pub const RESPONSE_KEEP: usize = 1024;

/// The two HTTP clients: one that reaches only public addresses, and one
/// that may reach private ones (test mode with `allow_private_targets`).
#[derive(Clone)]
pub struct Clients {
    public: reqwest::Client,
    private: reqwest::Client,
}

impl Clients {
    pub fn new(resolver: &ResolverSlot, timeout: Duration) -> reqwest::Result<Self> {
        let build = |allow_private: bool| {
            reqwest::Client::builder()
                .use_rustls_tls()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(5)))
                .pool_max_idle_per_host(64)
                .user_agent("Paygate-Webhooks/1")
                .dns_resolver(Arc::new(GuardedResolver {
                    slot: resolver.clone(),
                    policy: Policy {
                        https_only: false,
                        allow_private,
                    },
                }))
                .build()
        };
        Ok(Self {
            public: build(false)?,
            private: build(true)?,
        })
    }

    fn for_policy(&self, policy: Policy) -> &reqwest::Client {
        if policy.allow_private {
            &self.private
        } else {
            &self.public
        }
    }
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx answer.
    Delivered,
    /// `410 Gone`: the receiver wants no more; the endpoint is disabled.
    Gone,
    /// Anything else: retry on the schedule.
    Failed,
}

#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub verdict: Verdict,
    pub status: Option<u16>,
    pub duration: Duration,
    pub body: String,
    pub error: Option<&'static str>,
}

impl AttemptResult {
    fn error(error: &'static str, started: Instant) -> Self {
        Self {
            verdict: Verdict::Failed,
            status: None,
            duration: started.elapsed(),
            body: String::new(),
            error: Some(error),
        }
    }
}

/// The secrets that sign at `now`: the current one, and the previous one
/// until its grace period ends.
pub fn active_secrets(master_key: &MasterKey, claimed: &Claimed, now: i64) -> Result<Vec<WebhookSecret>, CryptoError> {
    let context = secret_context(&claimed.endpoint_id);
    let open = |sealed| {
        let text = master_key.open_string(sealed, &context)?;
        WebhookSecret::parse(secrecy::ExposeSecret::expose_secret(&text)).map_err(|_| CryptoError::Open)
    };
    let mut secrets = vec![open(&claimed.secret)?];
    if let (Some(previous), Some(until)) = (&claimed.previous, claimed.previous_expires_at) {
        if now < until {
            secrets.push(open(previous)?);
        }
    }
    Ok(secrets)
}

/// Makes one attempt. `now` is the signing time.
pub async fn attempt(
    clients: &Clients,
    policy: Policy,
    secrets: &[WebhookSecret],
    claimed: &Claimed,
    now: i64,
) -> AttemptResult {
    let started = Instant::now();
    let url = match egress::vet_url(&claimed.url, policy) {
        Ok((url, _)) => url,
        Err(_) => return AttemptResult::error("url_not_allowed", started),
    };
    let refs: Vec<&WebhookSecret> = secrets.iter().collect();
    let signed = wire::sign_delivery(&refs, &claimed.event_id, now, claimed.payload.as_bytes());
    let request = clients
        .for_policy(policy)
        .post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(wire::HEADER_ID, signed.webhook_id)
        .header(wire::HEADER_TIMESTAMP, signed.webhook_timestamp)
        .header(wire::HEADER_SIGNATURE, signed.webhook_signature)
        .header(wire::HEADER_PLAIN_SIGNATURE, signed.x_webhook_signature)
        .body(claimed.payload.clone());
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(err) => return AttemptResult::error(classify(&err), started),
    };
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while body.len() < RESPONSE_KEEP {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(RESPONSE_KEEP);
    let verdict = match status {
        200..=299 => Verdict::Delivered,
        410 => Verdict::Gone,
        _ => Verdict::Failed,
    };
    AttemptResult {
        verdict,
        status: Some(status),
        duration: started.elapsed(),
        body: String::from_utf8_lossy(&body).into_owned(),
        error: None,
    }
}

/// A short, safe name for why a request got no answer.
fn classify(err: &reqwest::Error) -> &'static str {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(egress) = e.downcast_ref::<EgressError>() {
            return match egress {
                EgressError::Refused(_) => "url_not_allowed",
                EgressError::Resolve => "dns",
            };
        }
        source = e.source();
    }
    if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else {
        "request"
    }
}
