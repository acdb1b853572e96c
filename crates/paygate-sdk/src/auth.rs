//! The three ways a client authenticates (docs/api.md section 4) and the cache of
//! access tokens.
//!
//! - **API key**: `x-api-key` on every request.
//! - **Access token**: the key is sent only to `POST /v1/auth/token`; other
//!   requests carry `Authorization: Bearer` and `x-session-id`. A token is
//!   reused until about 10 s before it expires, and renewed at once when the
//!   server says `token_expired`. Tasks that need a new token at the same
//!   time wait for one exchange instead of making one each.
//! - **Signatures**: with an API secret configured, every request (including
//!   the token exchange) is signed, whichever of the two above is used.

use std::sync::Arc;
use std::time::{Duration, Instant};

use paygate_proto::{ApiKey, ApiSecret};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::Mutex;

/// Tokens are renewed this long before they expire.
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(10);

/// How a client proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// `x-api-key` on every request.
    ApiKey,
    /// Exchange the key for short-lived access tokens (needs the merchant ID).
    AccessToken,
}

pub(crate) struct Credentials {
    pub api_key: ApiKey,
    pub merchant_id: Option<String>,
    pub api_secret: Option<ApiSecret>,
    pub tokens: Option<TokenCache>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &self.api_key)
            .field("merchant_id", &self.merchant_id)
            .field("signed", &self.api_secret.is_some())
            .field("access_tokens", &self.tokens.is_some())
            .finish()
    }
}

/// An access token and its session, as cached.
pub(crate) struct CachedToken {
    pub access_token: SecretString,
    pub session_id: String,
    renew_at: Instant,
}

impl CachedToken {
    pub fn new(access_token: SecretString, session_id: String, expires_in: Duration, now: Instant) -> Self {
        // Renew 10 s early; a token shorter-lived than that is renewed half-way.
        let lead = if expires_in > REFRESH_MARGIN * 2 {
            expires_in - REFRESH_MARGIN
        } else {
            expires_in / 2
        };
        CachedToken {
            access_token,
            session_id,
            renew_at: now + lead,
        }
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.access_token.expose_secret())
    }
}

/// The current token, behind an async mutex held across an exchange: that
/// is what makes concurrent renewals wait for one exchange.
#[derive(Default)]
pub(crate) struct TokenCache {
    current: Mutex<Option<Arc<CachedToken>>>,
}

impl TokenCache {
    /// The cached token if it is still fresh and not `rejected`; otherwise the
    /// result of `exchange`, made once however many tasks ask at once.
    pub async fn get<F, Fut, E>(&self, rejected: Option<&Arc<CachedToken>>, exchange: F) -> Result<Arc<CachedToken>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<CachedToken, E>>,
    {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref() {
            let refused = rejected.is_some_and(|r| Arc::ptr_eq(r, token));
            if !refused && Instant::now() < token.renew_at {
                return Ok(Arc::clone(token));
            }
        }
        let fresh = Arc::new(exchange().await?);
        *current = Some(Arc::clone(&fresh));
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn token(expires_in: Duration) -> CachedToken {
        CachedToken::new(SecretString::from("t"), "s".to_owned(), expires_in, Instant::now())
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_exchange_and_a_rejected_token_is_renewed_once() {
        let cache = Arc::new(TokenCache::default());
        let exchanges = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, exchanges) = (Arc::clone(&cache), Arc::clone(&exchanges));
            tasks.push(tokio::spawn(async move {
                cache
                    .get(None, || async {
                        exchanges.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, ()>(token(Duration::from_secs(60)))
                    })
                    .await
            }));
        }
        let mut tokens = Vec::new();
        for task in tasks {
            tokens.push(task.await.unwrap().unwrap());
        }
        assert_eq!(exchanges.load(Ordering::SeqCst), 1);
        assert!(tokens.iter().all(|t| Arc::ptr_eq(t, &tokens[0])));
        // Two tasks told `token_expired` for the same token: one new exchange.
        let rejected = Arc::clone(&tokens[0]);
        for _ in 0..2 {
            cache
                .get(Some(&rejected), || async {
                    exchanges.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(token(Duration::from_secs(60)))
                })
                .await
                .unwrap();
        }
        assert_eq!(exchanges.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn tokens_are_renewed_ten_seconds_early() {
        let now = Instant::now();
        let t = CachedToken::new(SecretString::from("t"), "s".to_owned(), Duration::from_secs(60), now);
        assert_eq!(t.renew_at, now + Duration::from_secs(50));
        let short = CachedToken::new(SecretString::from("t"), "s".to_owned(), Duration::from_secs(8), now);
        assert_eq!(short.renew_at, now + Duration::from_secs(4));
    }
}
