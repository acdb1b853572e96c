//! The client of `paygate-signer`'s Unix socket (docs/stablecoins.md): one
//! JSON intent per line, one JSON answer per line. The signer holds every
//! key; nothing that crosses this socket is secret (addresses, signed
//! transactions, refusal codes), and the signer decides what it signs.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::Mutex;

use super::config::is_hex_address;

/// The longest answer read (a signed transaction is well under 1 KiB).
const MAX_ANSWER: u64 = 64 * 1024;
/// How long one request may take, connecting included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// The socket could not be reached or closed mid-answer.
    #[error("the signer is unavailable: {0}")]
    Unavailable(String),
    /// The signer refused: its code (`peer_refused`, `unknown_intent`,
    /// `token_not_allowed`, `fee_above_ceiling`, ...).
    #[error("the signer refused: {0}")]
    Refused(String),
    /// The answer was not what the protocol says.
    #[error("the signer answered unexpectedly: {0}")]
    Protocol(&'static str),
}

pub type Result<T> = std::result::Result<T, SignerError>;

/// A transaction the signer built and signed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Signed {
    pub from: String,
    pub to: String,
    /// `0x`-prefixed RLP of the signed EIP-1559 transaction.
    pub raw_tx: String,
    pub tx_hash: String,
}

/// `sign_sweep`: ERC-20 `transfer(hot wallet, amount)` of `token` from
/// deposit key `index`. The signer fixes the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepIntent {
    pub index: u32,
    /// The token contract, `0x` and 40 hex digits.
    pub token: String,
    /// Minor units of the token.
    pub amount: u128,
    pub nonce: u64,
    pub gas_limit: u64,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

/// `sign_gas_topup`: ETH from the hot wallet to deposit address `index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopupIntent {
    pub index: u32,
    pub value_wei: u128,
    pub nonce: u64,
    /// 21,000: the signer refuses anything else.
    pub gas_limit: u64,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

/// `sign_payout`: ERC-20 `transfer(to, amount)` of `token` from the hot
/// wallet. One nonce per payout id: the same id with the same fields gets
/// the same signed transaction back; the same terms with a higher fee are a
/// replacement; anything else with that id is refused (`payout_conflict`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutIntent {
    pub payout_id: String,
    /// The token contract, `0x` and 40 hex digits.
    pub token: String,
    pub to: String,
    /// Minor units of the token.
    pub amount: u128,
    pub nonce: u64,
    pub gas_limit: u64,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

type Connection = (BufReader<OwnedReadHalf>, OwnedWriteHalf);

/// The signer's client: one connection, reopened when it breaks, one
/// request at a time.
pub struct SignerClient {
    path: PathBuf,
    connection: Mutex<Option<Connection>>,
}

impl fmt::Debug for SignerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerClient").field("path", &self.path).finish()
    }
}

impl SignerClient {
    /// Connects to the socket at `path` and checks the signer answers (it
    /// refuses a peer whose uid it does not serve).
    pub async fn connect(path: &Path) -> Result<SignerClient> {
        let client = SignerClient {
            path: path.to_owned(),
            connection: Mutex::new(None),
        };
        client.hot_wallet().await?;
        Ok(client)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The address of deposit key `index` (`m/44'/60'/0'/0/index`), EIP-55
    /// checksummed.
    pub async fn derive_address(&self, index: u32) -> Result<String> {
        self.address(json!({"op": "derive_address", "index": index})).await
    }

    /// The hot wallet's address.
    pub async fn hot_wallet(&self) -> Result<String> {
        self.address(json!({"op": "hot_wallet"})).await
    }

    pub async fn sign_sweep(&self, intent: &SweepIntent) -> Result<Signed> {
        self.signed(json!({
            "op": "sign_sweep",
            "index": intent.index,
            "token": intent.token,
            "amount": intent.amount.to_string(),
            "nonce": intent.nonce,
            "gas_limit": intent.gas_limit,
            "max_fee_per_gas": intent.max_fee_per_gas.to_string(),
            "max_priority_fee_per_gas": intent.max_priority_fee_per_gas.to_string(),
        }))
        .await
    }

    pub async fn sign_gas_topup(&self, intent: &TopupIntent) -> Result<Signed> {
        self.signed(json!({
            "op": "sign_gas_topup",
            "index": intent.index,
            "value_wei": intent.value_wei.to_string(),
            "nonce": intent.nonce,
            "gas_limit": intent.gas_limit,
            "max_fee_per_gas": intent.max_fee_per_gas.to_string(),
            "max_priority_fee_per_gas": intent.max_priority_fee_per_gas.to_string(),
        }))
        .await
    }

    pub async fn sign_payout(&self, intent: &PayoutIntent) -> Result<Signed> {
        self.signed(json!({
            "op": "sign_payout",
            "payout_id": intent.payout_id,
            "token": intent.token,
            "to": intent.to,
            "amount": intent.amount.to_string(),
            "nonce": intent.nonce,
            "gas_limit": intent.gas_limit,
            "max_fee_per_gas": intent.max_fee_per_gas.to_string(),
            "max_priority_fee_per_gas": intent.max_priority_fee_per_gas.to_string(),
        }))
        .await
    }

    async fn address(&self, request: Value) -> Result<String> {
        let answer = self.request(&request).await?;
        let address = answer
            .get("address")
            .and_then(Value::as_str)
            .filter(|a| is_hex_address(a))
            .ok_or(SignerError::Protocol("no address in the answer"))?;
        Ok(address.to_owned())
    }

    async fn signed(&self, request: Value) -> Result<Signed> {
        let answer = self.request(&request).await?;
        let signed: Signed =
            serde_json::from_value(answer).map_err(|_| SignerError::Protocol("not a signed transaction"))?;
        let hex = |s: &str| {
            s.strip_prefix("0x")
                .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
        };
        if !is_hex_address(&signed.from)
            || !is_hex_address(&signed.to)
            || !hex(&signed.raw_tx)
            || !hex(&signed.tx_hash)
            || signed.tx_hash.len() != 66
        {
            return Err(SignerError::Protocol("malformed signed transaction"));
        }
        Ok(signed)
    }

    /// Sends one request and reads its answer, reconnecting once if the
    /// kept connection turns out to be closed. Every intent is safe to send
    /// twice: the signer signs deterministically and fixes every destination.
    async fn request(&self, request: &Value) -> Result<Value> {
        let line = format!("{request}\n");
        let mut guard = self.connection.lock().await;
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, async {
            if let Some(kept) = guard.as_mut() {
                match exchange(kept, &line).await {
                    Err(SignerError::Unavailable(_)) => *guard = None,
                    other => return other,
                }
            }
            let stream = UnixStream::connect(&self.path)
                .await
                .map_err(|e| SignerError::Unavailable(e.kind().to_string()))?;
            let (read, write) = stream.into_split();
            let fresh = guard.insert((BufReader::new(read), write));
            exchange(fresh, &line).await
        })
        .await
        .unwrap_or_else(|_| Err(SignerError::Unavailable("timed out".to_owned())));
        if answer.is_err() {
            // A half-read answer must never be taken for the next one's.
            *guard = None;
        }
        drop(guard);
        refusal(answer?)
    }
}

/// Writes one line and reads one line back.
async fn exchange(connection: &mut Connection, line: &str) -> Result<Value> {
    let (reader, writer) = connection;
    writer
        .write_all(line.as_bytes())
        .await
        .map_err(|e| SignerError::Unavailable(e.kind().to_string()))?;
    let mut answer = String::new();
    let n = (&mut *reader)
        .take(MAX_ANSWER)
        .read_line(&mut answer)
        .await
        .map_err(|e| SignerError::Unavailable(e.kind().to_string()))?;
    if n == 0 {
        return Err(SignerError::Unavailable("connection closed".to_owned()));
    }
    if !answer.ends_with('\n') {
        return Err(SignerError::Protocol("answer too long"));
    }
    serde_json::from_str(&answer).map_err(|_| SignerError::Protocol("answer is not JSON"))
}

/// `{"ok":true,...}` passes; `{"ok":false,"error":E,"reason":R}` is
/// `Refused(R or E)`.
fn refusal(answer: Value) -> Result<Value> {
    match answer.get("ok").and_then(Value::as_bool) {
        Some(true) => Ok(answer),
        Some(false) => {
            let code = answer
                .get("reason")
                .or_else(|| answer.get("error"))
                .and_then(Value::as_str)
                .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
                .unwrap_or("refused");
            Err(SignerError::Refused(code.to_owned()))
        }
        None => Err(SignerError::Protocol("answer has no ok field")),
    }
}

#[cfg(test)]
#[path = "signer_client_tests.rs"]
mod tests;
