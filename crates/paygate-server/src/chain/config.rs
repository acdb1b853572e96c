//! The stablecoin rail's configuration (docs/stablecoins.md, docs/configuration.md):
//! `[chains.test.ethereum]`, `[chains.live.ethereum]` and `[signer]`. An
//! absent chain section turns the rail off in that environment.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use paygate_proto::money::Currency;
use paygate_proto::Environment;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::ConfigError;

/// A stablecoin Paygate takes on an EVM chain (an ERC-20 with 6 decimals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Token {
    Usdc,
    Usdt,
}

impl Token {
    pub const ALL: [Token; 2] = [Token::Usdc, Token::Usdt];

    pub const fn as_str(self) -> &'static str {
        match self {
            Token::Usdc => "USDC",
            Token::Usdt => "USDT",
        }
    }

    pub const fn currency(self) -> Currency {
        match self {
            Token::Usdc => Currency::USDC,
            Token::Usdt => Currency::USDT,
        }
    }

    pub const fn from_currency(currency: Currency) -> Option<Token> {
        match currency {
            Currency::USDC => Some(Token::Usdc),
            Currency::USDT => Some(Token::Usdt),
            _ => None,
        }
    }

    /// `USDC` or `USDT`, in any case (environment variable keys arrive
    /// lower-cased).
    pub fn parse(text: &str) -> Option<Token> {
        Token::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<Currency> for Token {
    type Error = Currency;
    fn try_from(currency: Currency) -> Result<Self, Currency> {
        Token::from_currency(currency).ok_or(currency)
    }
}

impl Serialize for Token {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Token::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown token `{text}`: expected USDC or USDT")))
    }
}

/// One EVM chain of one environment.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawEvmChain", into = "RawEvmChain")]
pub struct EvmChain {
    /// Public JSON-RPC endpoint.
    pub rpc_url: String,
    /// Checked against the node's `eth_chainId` at start.
    pub chain_id: u64,
    /// A protected relay for `eth_sendRawTransaction`; None: none.
    pub private_rpc_url: Option<String>,
    pub private_timeout_blocks: u64,
    pub confirmations: u64,
    pub poll_interval: Duration,
    /// Token contract addresses (`0x` and 40 hex digits), as configured.
    pub tokens: BTreeMap<Token, String>,
}

impl EvmChain {
    /// The configured contract of `token`, if any.
    pub fn token_contract(&self, token: Token) -> Option<&str> {
        self.tokens.get(&token).map(String::as_str)
    }
}

/// Shows where an RPC URL points without its path or query, which often
/// carry a provider's API key.
pub(crate) fn redacted_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(url) => format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "<invalid>".to_owned(),
    }
}

impl fmt::Debug for EvmChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvmChain")
            .field("rpc_url", &redacted_url(&self.rpc_url))
            .field("chain_id", &self.chain_id)
            .field("private_rpc_url", &self.private_rpc_url.as_deref().map(redacted_url))
            .field("private_timeout_blocks", &self.private_timeout_blocks)
            .field("confirmations", &self.confirmations)
            .field("poll_interval", &self.poll_interval)
            .field("tokens", &self.tokens)
            .finish()
    }
}

/// The TOML shape of [`EvmChain`].
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvmChain {
    rpc_url: String,
    chain_id: u64,
    #[serde(default)]
    private_rpc_url: String,
    #[serde(default = "default_private_timeout_blocks")]
    private_timeout_blocks: u64,
    #[serde(default = "default_confirmations")]
    confirmations: u64,
    #[serde(default = "default_poll_interval_ms")]
    poll_interval_ms: u64,
    #[serde(default)]
    tokens: BTreeMap<Token, String>,
}

const fn default_private_timeout_blocks() -> u64 {
    25
}
const fn default_confirmations() -> u64 {
    12
}
const fn default_poll_interval_ms() -> u64 {
    1000
}

impl From<RawEvmChain> for EvmChain {
    fn from(raw: RawEvmChain) -> Self {
        Self {
            rpc_url: raw.rpc_url,
            chain_id: raw.chain_id,
            private_rpc_url: Some(raw.private_rpc_url).filter(|u| !u.is_empty()),
            private_timeout_blocks: raw.private_timeout_blocks,
            confirmations: raw.confirmations,
            poll_interval: Duration::from_millis(raw.poll_interval_ms),
            tokens: raw.tokens,
        }
    }
}

impl From<EvmChain> for RawEvmChain {
    fn from(chain: EvmChain) -> Self {
        Self {
            rpc_url: chain.rpc_url,
            chain_id: chain.chain_id,
            private_rpc_url: chain.private_rpc_url.unwrap_or_default(),
            private_timeout_blocks: chain.private_timeout_blocks,
            confirmations: chain.confirmations,
            poll_interval_ms: u64::try_from(chain.poll_interval.as_millis()).unwrap_or(u64::MAX),
            tokens: chain.tokens,
        }
    }
}

/// The chains of both environments (`[chains.test.ethereum]`, `[chains.live.ethereum]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawChains", into = "RawChains")]
pub struct Chains {
    pub test: Option<EvmChain>,
    pub live: Option<EvmChain>,
}

impl Chains {
    pub fn get(&self, env: Environment) -> Option<&EvmChain> {
        match env {
            Environment::Test => self.test.as_ref(),
            Environment::Live => self.live.as_ref(),
        }
    }

    /// Whether any environment has a chain (the signer is then needed).
    pub fn any(&self) -> bool {
        self.test.is_some() || self.live.is_some()
    }

    /// Every configured chain with its environment.
    pub fn iter(&self) -> impl Iterator<Item = (Environment, &EvmChain)> {
        [(Environment::Test, &self.test), (Environment::Live, &self.live)]
            .into_iter()
            .filter_map(|(env, chain)| chain.as_ref().map(|c| (env, c)))
    }

    /// Checks what deserialisation alone cannot; errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (env, chain) in self.iter() {
            validate_chain(env, chain)?;
        }
        if let (Some(test), Some(live)) = (&self.test, &self.live) {
            if test.chain_id == live.chain_id {
                return Err(ConfigError::new(
                    "chains.live.ethereum.chain_id",
                    "must differ from chains.test.ethereum.chain_id: test deposits must never be credited in live mode",
                ));
            }
        }
        Ok(())
    }
}

fn validate_chain(env: Environment, chain: &EvmChain) -> Result<(), ConfigError> {
    let key = |name: &str| format!("chains.{env}.ethereum.{name}");
    let urls = [
        ("rpc_url", Some(chain.rpc_url.as_str())),
        ("private_rpc_url", chain.private_rpc_url.as_deref()),
    ];
    for (name, value) in urls {
        let Some(value) = value else { continue };
        let scheme = url::Url::parse(value)
            .map(|u| u.scheme().to_owned())
            .unwrap_or_default();
        match (env, scheme.as_str()) {
            (Environment::Live, "https") | (Environment::Test, "https" | "http") => {}
            (Environment::Live, _) => {
                return Err(ConfigError::new(
                    key(name),
                    "must be an https:// URL in live mode (a plain-http RPC can be tampered with on the way)",
                ))
            }
            (Environment::Test, _) => return Err(ConfigError::new(key(name), "must be an http:// or https:// URL")),
        }
    }
    if chain.chain_id == 0 {
        return Err(ConfigError::new(key("chain_id"), "must be at least 1"));
    }
    if !(1..=10_000).contains(&chain.confirmations) {
        return Err(ConfigError::new(key("confirmations"), "must be between 1 and 10000"));
    }
    if !(1..=10_000).contains(&chain.private_timeout_blocks) {
        return Err(ConfigError::new(
            key("private_timeout_blocks"),
            "must be between 1 and 10000",
        ));
    }
    if !(Duration::from_millis(50)..=Duration::from_secs(3600)).contains(&chain.poll_interval) {
        return Err(ConfigError::new(
            key("poll_interval_ms"),
            "must be between 50 and 3600000",
        ));
    }
    let mut seen = Vec::new();
    for (token, contract) in &chain.tokens {
        if !is_hex_address(contract) {
            return Err(ConfigError::new(
                key(&format!("tokens.{token}")),
                "must be a contract address: 0x and 40 hex digits",
            ));
        }
        let lower = contract.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Err(ConfigError::new(
                key(&format!("tokens.{token}")),
                "two tokens cannot share one contract",
            ));
        }
        seen.push(lower);
    }
    Ok(())
}

/// `0x` followed by exactly 40 hex digits (any case).
pub fn is_hex_address(text: &str) -> bool {
    text.strip_prefix("0x")
        .is_some_and(|hex| hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawChains {
    #[serde(skip_serializing_if = "RawNetworks::is_empty")]
    test: RawNetworks,
    #[serde(skip_serializing_if = "RawNetworks::is_empty")]
    live: RawNetworks,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawNetworks {
    #[serde(skip_serializing_if = "Option::is_none")]
    ethereum: Option<EvmChain>,
}

impl RawNetworks {
    fn is_empty(&self) -> bool {
        self.ethereum.is_none()
    }
}

impl From<RawChains> for Chains {
    fn from(raw: RawChains) -> Self {
        Self {
            test: raw.test.ethereum,
            live: raw.live.ethereum,
        }
    }
}

impl From<Chains> for RawChains {
    fn from(chains: Chains) -> Self {
        Self {
            test: RawNetworks { ethereum: chains.test },
            live: RawNetworks { ethereum: chains.live },
        }
    }
}

/// `[signer]`: where the signer listens, and the caps `paygate serve` hands
/// to the sandbox signer it starts (a separately run signer takes its own
/// flags).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignerConfig {
    /// The signer's Unix socket; None (`""`): start a sandbox signer
    /// listening on `DATA_DIR/signer/signer.sock`.
    #[serde(with = "empty_is_none")]
    pub socket: Option<PathBuf>,
    /// Per payout, in minor units of the token.
    pub payout_cap: u64,
    /// Per token, over a rolling 24 hours, in minor units.
    pub daily_cap: u64,
    pub max_fee_per_gas_gwei: u64,
    pub allowlist_only: bool,
}

impl Default for SignerConfig {
    fn default() -> Self {
        Self {
            socket: None,
            payout_cap: 10_000_000_000,
            daily_cap: 50_000_000_000,
            max_fee_per_gas_gwei: 500,
            allowlist_only: false,
        }
    }
}

impl SignerConfig {
    /// Checks the caps, and that a live chain has a signer run as its own
    /// service: the sandbox signer `paygate serve` starts is for test mode.
    pub fn validate(&self, chains: &Chains) -> Result<(), ConfigError> {
        if chains.live.is_some() && self.socket.is_none() {
            return Err(ConfigError::new(
                "signer.socket",
                "a live chain needs the socket of a paygate-signer run as its own service (docs/deploy.md); \
                 paygate serve starts a sandbox signer for test mode only",
            ));
        }
        if self.payout_cap == 0 {
            return Err(ConfigError::new("signer.payout_cap", "must be at least 1"));
        }
        if self.daily_cap < self.payout_cap {
            return Err(ConfigError::new(
                "signer.daily_cap",
                "must be at least signer.payout_cap",
            ));
        }
        if !(1..=100_000).contains(&self.max_fee_per_gas_gwei) {
            return Err(ConfigError::new(
                "signer.max_fee_per_gas_gwei",
                "must be between 1 and 100000",
            ));
        }
        if self.socket.as_ref().is_some_and(|p| !p.is_absolute()) {
            return Err(ConfigError::new("signer.socket", "must be an absolute path (or empty)"));
        }
        Ok(())
    }
}

/// A path where `""` means "none".
mod empty_is_none {
    use std::path::PathBuf;

    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(path) => s.serialize_str(&path.to_string_lossy()),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        let text = String::deserialize(d)?;
        Ok(Some(text).filter(|t| !t.is_empty()).map(PathBuf::from))
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
