//! Credential formats (docs/api.md section 3): merchant IDs, API keys with their
//! checksum, API secrets, and the environment a key carries.
//!
//! Parsing checks shape and checksum only, before any lookup, so a mistyped
//! or invented key never reaches the store.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::{CryptoRng, Rng, RngCore};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const KEY_RANDOM_LEN: usize = 30;
const KEY_CHECKSUM_LEN: usize = 6;
const SECRET_BYTES: usize = 32;
const SECRET_ENCODED_LEN: usize = 43;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("malformed credential")]
    Malformed,
    #[error("credential checksum mismatch")]
    BadChecksum,
}

/// Sandbox (`test`) or production (`live`). Test and live data never mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Test,
    Live,
}

impl Environment {
    pub const fn as_str(self) -> &'static str {
        match self {
            Environment::Test => "test",
            Environment::Live => "live",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "test" => Some(Environment::Test),
            "live" => Some(Environment::Live),
            _ => None,
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `MCH-{CC}-{ID}`: an ISO 3166-1 alpha-2 country and six of `0-9A-Z`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MerchantId(String);

impl MerchantId {
    pub fn parse(value: &str) -> Result<Self, CredentialError> {
        let rest = value.strip_prefix("MCH-").ok_or(CredentialError::Malformed)?;
        let (country, id) = rest.split_once('-').ok_or(CredentialError::Malformed)?;
        let id_ok = id.len() == 6 && id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        if !is_country_code(country) || !id_ok {
            return Err(CredentialError::Malformed);
        }
        Ok(Self(value.to_owned()))
    }

    /// A fresh random merchant ID in `country` (which must be a valid code).
    pub fn generate(country: &str, rng: &mut (impl RngCore + CryptoRng)) -> Result<Self, CredentialError> {
        if !is_country_code(country) {
            return Err(CredentialError::Malformed);
        }
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let id: String = (0..6)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect();
        Ok(Self(format!("MCH-{country}-{id}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MerchantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for MerchantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for MerchantId {
    type Error = CredentialError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<MerchantId> for String {
    fn from(value: MerchantId) -> Self {
        value.0
    }
}

/// Whether `code` is an officially assigned ISO 3166-1 alpha-2 code.
pub fn is_country_code(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) && ISO_3166_ALPHA2.split(' ').any(|c| c == code)
}

const ISO_3166_ALPHA2: &str =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT \
MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW \
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG \
UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// A server API key: `sk_test_` or `sk_live_`, 30 random base62 characters,
/// then 6 base62 characters of CRC32 over the random part. 44 characters.
///
/// Its `Debug` shows only the masked prefix.
#[derive(Clone)]
pub struct ApiKey {
    value: SecretString,
    environment: Environment,
}

impl ApiKey {
    pub const LEN: usize = 44;

    /// Checks the prefix, length, alphabet and checksum. No lookup.
    pub fn parse(value: &str) -> Result<Self, CredentialError> {
        let (environment, body) = split_environment(value, "sk")?;
        if body.len() != KEY_RANDOM_LEN + KEY_CHECKSUM_LEN || !body.bytes().all(is_base62) {
            return Err(CredentialError::Malformed);
        }
        let (random, checksum) = body.split_at(KEY_RANDOM_LEN);
        if checksum.as_bytes().ct_eq(key_checksum(random).as_bytes()).into() {
            Ok(Self {
                value: SecretString::from(value.to_owned()),
                environment,
            })
        } else {
            Err(CredentialError::BadChecksum)
        }
    }

    pub fn generate(environment: Environment, rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let random: String = (0..KEY_RANDOM_LEN)
            .map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char)
            .collect();
        let value = format!("sk_{}_{random}{}", environment.as_str(), key_checksum(&random));
        Self {
            value: SecretString::from(value),
            environment,
        }
    }

    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// The full key. Call only to show it once or to send it.
    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }

    /// The hex SHA-256 under which the store keeps the key.
    pub fn lookup_hash(&self) -> String {
        hex::encode(Sha256::digest(self.expose().as_bytes()))
    }

    /// `sk_live_AbCd…wxyz`: enough to recognise a key, never enough to use it.
    pub fn masked(&self) -> String {
        let key = self.expose();
        let prefix_len = "sk_test_".len() + 4;
        format!("{}…{}", &key[..prefix_len], &key[key.len() - 4..])
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.masked())
    }
}

/// Splits `{kind}_test_…` / `{kind}_live_…` into the environment and the rest.
fn split_environment<'a>(value: &'a str, kind: &str) -> Result<(Environment, &'a str), CredentialError> {
    let rest = value
        .strip_prefix(kind)
        .and_then(|r| r.strip_prefix('_'))
        .ok_or(CredentialError::Malformed)?;
    [Environment::Test, Environment::Live]
        .into_iter()
        .find_map(|env| {
            rest.strip_prefix(env.as_str())
                .and_then(|r| r.strip_prefix('_'))
                .map(|body| (env, body))
        })
        .ok_or(CredentialError::Malformed)
}

fn is_base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn key_checksum(random: &str) -> String {
    let mut n = crc32fast::hash(random.as_bytes());
    let mut out = [b'0'; KEY_CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| b as char).collect()
}

/// An API secret: `sec_test_` / `sec_live_` + 43 base64url characters
/// (32 random bytes). It keys request signatures.
#[derive(Clone)]
pub struct ApiSecret {
    value: SecretString,
    environment: Environment,
}

impl ApiSecret {
    pub fn parse(value: &str) -> Result<Self, CredentialError> {
        let (environment, body) = split_environment(value, "sec")?;
        let decoded = URL_SAFE_NO_PAD.decode(body).map_err(|_| CredentialError::Malformed)?;
        if body.len() != SECRET_ENCODED_LEN || decoded.len() != SECRET_BYTES {
            return Err(CredentialError::Malformed);
        }
        Ok(Self {
            value: SecretString::from(value.to_owned()),
            environment,
        })
    }

    pub fn generate(environment: Environment, rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        rng.fill_bytes(&mut bytes);
        let value = format!("sec_{}_{}", environment.as_str(), URL_SAFE_NO_PAD.encode(bytes));
        zeroize::Zeroize::zeroize(&mut bytes);
        Self {
            value: SecretString::from(value),
            environment,
        }
    }

    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// The full secret string. Call only to show it once, to sign, or to compare.
    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }

    /// Constant-time comparison with a presented secret.
    pub fn matches(&self, presented: &str) -> bool {
        self.expose().as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl fmt::Debug for ApiSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiSecret([redacted])")
    }
}

/// Whether `text` contains anything shaped like a server credential
/// (`sk_test_`, `sk_live_`, `sec_test_`, `sec_live_`).
pub fn contains_server_credential(text: &str) -> bool {
    ["sk_test_", "sk_live_", "sec_test_", "sec_live_"]
        .iter()
        .any(|prefix| text.contains(prefix))
}

/// A bearer token for browsers and sockets: `prefix` + 43 base64url
/// characters (32 random bytes), e.g. `wst_…` or `cst_…`. Stored as a hash.
pub fn generate_opaque_token(prefix: &str, rng: &mut (impl RngCore + CryptoRng)) -> SecretString {
    let mut bytes = [0u8; SECRET_BYTES];
    rng.fill_bytes(&mut bytes);
    let token = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    zeroize::Zeroize::zeroize(&mut bytes);
    SecretString::from(token)
}

/// Whether `value` has the shape of an opaque token with `prefix`.
pub fn is_opaque_token(value: &str, prefix: &str) -> bool {
    value.strip_prefix(prefix).is_some_and(|body| {
        body.len() == SECRET_ENCODED_LEN && URL_SAFE_NO_PAD.decode(body).is_ok_and(|b| b.len() == SECRET_BYTES)
    })
}

/// The hex SHA-256 under which an opaque token is stored.
pub fn token_hash(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn generated_keys_parse_and_have_the_contract_shape() {
        for env in [Environment::Test, Environment::Live] {
            let key = ApiKey::generate(env, &mut OsRng);
            assert_eq!(key.expose().len(), ApiKey::LEN);
            let parsed = ApiKey::parse(key.expose());
            assert!(matches!(parsed, Ok(ref k) if k.environment() == env));
        }
    }

    #[test]
    fn a_changed_character_fails_the_checksum() {
        let key = ApiKey::generate(Environment::Test, &mut OsRng);
        let mut chars: Vec<char> = key.expose().chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let tampered: String = chars.into_iter().collect();
        assert_eq!(ApiKey::parse(&tampered).err(), Some(CredentialError::BadChecksum));
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            "sk_test_",
            "pk_test_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "sk_test_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
            "sk_prod_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(ApiKey::parse(bad).err(), Some(CredentialError::Malformed), "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = ApiKey::generate(Environment::Live, &mut OsRng);
        let printed = format!("{key:?}");
        assert!(!printed.contains(key.expose()));
        assert!(printed.contains("sk_live_"));
        let secret = ApiSecret::generate(Environment::Live, &mut OsRng);
        assert!(!format!("{secret:?}").contains(secret.expose()));
    }

    #[test]
    fn secrets_round_trip() {
        let secret = ApiSecret::generate(Environment::Test, &mut OsRng);
        assert!(secret.expose().starts_with("sec_test_"));
        assert_eq!(secret.expose().len(), "sec_test_".len() + 43);
        assert!(ApiSecret::parse(secret.expose()).is_ok());
        assert!(secret.matches(secret.expose()));
        assert!(!secret.matches("sec_test_x"));
        assert!(ApiSecret::parse("sec_test_short").is_err());
    }

    #[test]
    fn merchant_ids() {
        let id = MerchantId::generate("ZA", &mut OsRng);
        assert!(matches!(id, Ok(ref m) if MerchantId::parse(m.as_str()).is_ok()));
        assert!(MerchantId::parse("MCH-ZA-7K2Q9X").is_ok());
        for bad in [
            "MCH-XX-7K2Q9X",
            "MCH-ZA-7k2q9x",
            "MCH-ZA-7K2Q9",
            "mch-ZA-7K2Q9X",
            "MCH-ZA7K2Q9X",
        ] {
            assert!(MerchantId::parse(bad).is_err(), "{bad}");
        }
        assert!(MerchantId::generate("QQ", &mut OsRng).is_err());
    }
}
