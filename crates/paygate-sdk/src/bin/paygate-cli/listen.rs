//! `paygate-cli listen --forward-to URL`: the merchant's events from the
//! realtime socket, forwarded to a local endpoint as webhook deliveries,
//! signed with a local secret printed at start (as `stripe listen` does), so
//! the endpoint's verification code runs unchanged against real events.
//!
//! Forwarding goes to loopback addresses only (`localhost`, `127.0.0.1`,
//! `[::1]`): the events are the merchant's, and this tool does not send them
//! across a network.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use paygate_sdk::proto::realtime::CreateRealtimeToken;
use paygate_sdk::proto::webhooks::{
    sign_delivery, WebhookSecret, HEADER_ID, HEADER_PLAIN_SIGNATURE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use paygate_sdk::ReceivedEvent;
use reqwest::Url;

use crate::output;
use crate::profile::Profile;

#[derive(clap::Args)]
pub struct Args {
    /// The local endpoint, e.g. http://localhost:3000/hook.
    #[arg(long)]
    forward_to: String,
    /// Only these event types (comma-separated; default: all).
    #[arg(long, value_delimiter = ',')]
    events: Vec<String>,
    /// Sign with this secret instead of a new one (env PAYGATE_LISTEN_SECRET),
    /// so a receiver's configuration survives restarts.
    #[arg(long, env = "PAYGATE_LISTEN_SECRET", hide_env_values = true)]
    secret: Option<String>,
}

fn loopback_target(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|_| format!("{text:?} is not a URL"))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() != "http" || !loopback || !url.username().is_empty() || url.password().is_some() {
        return Err("--forward-to must be an http URL on this machine (localhost, 127.0.0.1 or [::1])".to_owned());
    }
    Ok(url)
}

pub async fn run(args: Args, json: bool) -> Result<(), String> {
    let target = loopback_target(&args.forward_to)?;
    let secret = match &args.secret {
        Some(text) => WebhookSecret::parse(text).map_err(|_| "--secret is not a webhook secret (whsec_...)")?,
        None => WebhookSecret::generate(),
    };
    let client = Profile::load()?.client()?;
    let forwarder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let mut announced = false;
    let mut failures = 0u32;
    loop {
        let mut socket = match client.realtime(&CreateRealtimeToken::default()).await {
            Ok(socket) => socket,
            Err(err) if announced && failures < 10 => {
                failures += 1;
                eprintln!("realtime socket: {err}; reconnecting");
                tokio::time::sleep(Duration::from_secs(u64::from(failures).min(5))).await;
                continue;
            }
            Err(err) => return Err(err.to_string()),
        };
        failures = 0;
        if !announced {
            announced = true;
            if json {
                output::json(
                    &serde_json::json!({ "ready": true, "forward_to": target.as_str(), "secret": secret.expose() }),
                );
            } else {
                println!(
                    "Ready! Forwarding events to {target}. Your webhook signing secret is {} (^C to quit)",
                    secret.expose()
                );
            }
        }
        loop {
            let received = tokio::select! {
                received = socket.next_event() => received,
                _ = tokio::signal::ctrl_c() => return Ok(()),
            };
            match received {
                Ok(Some(received)) => {
                    if args.events.is_empty() || args.events.contains(&received.event.event_type) {
                        forward(&forwarder, &target, &secret, &received, json).await;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    eprintln!("realtime socket: {err}; reconnecting");
                    break;
                }
            }
        }
    }
}

/// One delivery, as the server would make it: the event's JSON as the body,
/// Standard Webhooks and `X-Webhook-Signature` headers signed now.
async fn forward(
    forwarder: &reqwest::Client,
    target: &Url,
    secret: &WebhookSecret,
    received: &ReceivedEvent,
    json: bool,
) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default();
    let body = received.raw.as_bytes();
    let signed = sign_delivery(&[secret], &received.event.id, now, body);
    let answer = forwarder
        .post(target.clone())
        .header("content-type", "application/json")
        .header(HEADER_ID, signed.webhook_id)
        .header(HEADER_TIMESTAMP, signed.webhook_timestamp)
        .header(HEADER_SIGNATURE, signed.webhook_signature)
        .header(HEADER_PLAIN_SIGNATURE, signed.x_webhook_signature)
        .body(body.to_vec())
        .send()
        .await;
    let (status, error) = match answer {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(err) => (None, Some(if err.is_timeout() { "timeout" } else { "connect" })),
    };
    let event = &received.event;
    if json {
        output::json(&serde_json::json!({
            "event": event.id, "type": event.event_type, "status": status, "error": error,
        }));
    } else {
        let outcome = status.map_or_else(|| error.unwrap_or_default().to_owned(), |s| s.to_string());
        println!(
            "{}  {:<22}  {}  --> {outcome}",
            event.created_at, event.event_type, event.id
        );
    }
}

#[cfg(test)]
mod tests {
    use super::loopback_target;

    #[test]
    fn forwarding_stays_on_this_machine() {
        for good in [
            "http://localhost:3000/hook",
            "http://127.0.0.1:1/",
            "http://[::1]:8080/x",
        ] {
            assert!(loopback_target(good).is_ok(), "{good}");
        }
        for bad in [
            "http://example.com/hook",
            "http://10.0.0.1/",
            "http://user@localhost/",
            "ftp://localhost/",
            "http://localhost.example.com/",
            "nonsense",
        ] {
            assert!(loopback_target(bad).is_err(), "{bad}");
        }
    }
}
