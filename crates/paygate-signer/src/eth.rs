//! Ethereum encodings the signer needs: Keccak-256, addresses (EIP-55), RLP,
//! ERC-20 `transfer` call data, and signed EIP-1559 transactions.

use secp256k1::ecdsa::RecoverableSignature;
use secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use sha3::{Digest, Keccak256};

/// Keccak-256 (Ethereum's hash, not NIST SHA3-256).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// A 20-byte account address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// The address of a public key: the last 20 bytes of the Keccak-256 of
    /// its uncompressed form without the 0x04 prefix.
    pub fn from_public_key(key: &PublicKey) -> Self {
        let uncompressed = key.serialize_uncompressed();
        let hash = keccak256(&uncompressed[1..]);
        let mut out = [0u8; 20];
        out.copy_from_slice(&hash[12..]);
        Address(out)
    }

    pub fn from_secret_key(key: &SecretKey) -> Self {
        let secp = Secp256k1::signing_only();
        Self::from_public_key(&PublicKey::from_secret_key(&secp, key))
    }

    /// Parses `0x` and 40 hex digits. All-lowercase is taken as is; any
    /// uppercase letter means the case is an EIP-55 checksum, which must
    /// match (so an all-caps address is accepted only when its checksum
    /// happens to be all caps, as EIP-55's own examples are).
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let hex_part = text.strip_prefix("0x").ok_or(AddressError::Format)?;
        if hex_part.len() != 40 {
            return Err(AddressError::Format);
        }
        let mut out = [0u8; 20];
        hex::decode_to_slice(hex_part, &mut out).map_err(|_| AddressError::Format)?;
        let address = Address(out);
        let has_upper = hex_part.chars().any(|c| c.is_ascii_uppercase());
        if has_upper && address.checksummed()[2..] != *hex_part {
            return Err(AddressError::Checksum);
        }
        Ok(address)
    }

    /// The EIP-55 mixed-case form.
    pub fn checksummed(&self) -> String {
        let lower = hex::encode(self.0);
        let hash = keccak256(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
            if c.is_ascii_alphabetic() && nibble >= 8 {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.checksummed())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("an address is 0x and 40 hexadecimal digits")]
    Format,
    #[error("the address's EIP-55 checksum (its mixed case) does not match")]
    Checksum,
}

/// RLP item.
enum Rlp<'a> {
    Bytes(&'a [u8]),
    Uint(u128),
    List(Vec<Rlp<'a>>),
}

fn rlp_length_prefix(out: &mut Vec<u8>, len: usize, short: u8, long: u8) {
    if len <= 55 {
        out.push(short + len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        out.push(long + (8 - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
}

fn rlp_encode(item: &Rlp<'_>, out: &mut Vec<u8>) {
    match item {
        Rlp::Bytes(bytes) => {
            if bytes.len() == 1 && bytes[0] < 0x80 {
                out.push(bytes[0]);
            } else {
                rlp_length_prefix(out, bytes.len(), 0x80, 0xb7);
                out.extend_from_slice(bytes);
            }
        }
        Rlp::Uint(value) => {
            let be = value.to_be_bytes();
            let skip = be.iter().take_while(|b| **b == 0).count();
            rlp_encode(&Rlp::Bytes(&be[skip..]), out);
        }
        Rlp::List(items) => {
            let mut payload = Vec::new();
            for item in items {
                rlp_encode(item, &mut payload);
            }
            rlp_length_prefix(out, payload.len(), 0xc0, 0xf7);
            out.extend_from_slice(&payload);
        }
    }
}

/// The call data of ERC-20 `transfer(to, amount)`.
pub fn erc20_transfer_data(to: &Address, amount: u128) -> Vec<u8> {
    let mut data = Vec::with_capacity(68);
    data.extend_from_slice(&[0xa9, 0x05, 0x9c, 0xbb]);
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(&to.0);
    data.extend_from_slice(&[0u8; 16]);
    data.extend_from_slice(&amount.to_be_bytes());
    data
}

/// An EIP-1559 (type 2) transaction with an empty access list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eip1559Tx {
    pub chain_id: u64,
    pub nonce: u64,
    pub max_priority_fee_per_gas: u128,
    pub max_fee_per_gas: u128,
    pub gas_limit: u64,
    pub to: Address,
    pub value: u128,
    pub data: Vec<u8>,
}

/// A signed transaction: its raw bytes for `eth_sendRawTransaction` and its
/// hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    pub raw: Vec<u8>,
    pub hash: [u8; 32],
}

impl Eip1559Tx {
    fn fields(&self) -> Vec<Rlp<'_>> {
        vec![
            Rlp::Uint(u128::from(self.chain_id)),
            Rlp::Uint(u128::from(self.nonce)),
            Rlp::Uint(self.max_priority_fee_per_gas),
            Rlp::Uint(self.max_fee_per_gas),
            Rlp::Uint(u128::from(self.gas_limit)),
            Rlp::Bytes(&self.to.0),
            Rlp::Uint(self.value),
            Rlp::Bytes(&self.data),
            Rlp::List(Vec::new()),
        ]
    }

    /// The hash that is signed: keccak(0x02 || rlp(fields)).
    pub fn signing_hash(&self) -> [u8; 32] {
        let mut out = vec![0x02];
        rlp_encode(&Rlp::List(self.fields()), &mut out);
        keccak256(&out)
    }

    /// Signs with `key` and returns the raw transaction and its hash.
    pub fn sign(&self, key: &SecretKey) -> SignedTx {
        let secp = Secp256k1::signing_only();
        let message = Message::from_digest(self.signing_hash());
        let signature: RecoverableSignature = secp.sign_ecdsa_recoverable(&message, key);
        let (recovery_id, compact) = signature.serialize_compact();
        let y_parity = recovery_id.to_i32() as u128;
        let mut fields = self.fields();
        fields.push(Rlp::Uint(y_parity));
        fields.push(Rlp::Bytes(strip_zeros(&compact[..32])));
        fields.push(Rlp::Bytes(strip_zeros(&compact[32..])));
        let mut raw = vec![0x02];
        rlp_encode(&Rlp::List(fields), &mut raw);
        let hash = keccak256(&raw);
        SignedTx { raw, hash }
    }
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    &bytes[skip..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlp_matches_the_spec_examples() {
        let mut out = Vec::new();
        rlp_encode(&Rlp::Bytes(b"dog"), &mut out);
        assert_eq!(out, [0x83, b'd', b'o', b'g']);
        out.clear();
        rlp_encode(&Rlp::List(vec![Rlp::Bytes(b"cat"), Rlp::Bytes(b"dog")]), &mut out);
        assert_eq!(out, [0xc8, 0x83, b'c', b'a', b't', 0x83, b'd', b'o', b'g']);
        out.clear();
        rlp_encode(&Rlp::Uint(0), &mut out);
        assert_eq!(out, [0x80]);
        out.clear();
        rlp_encode(&Rlp::Uint(1024), &mut out);
        assert_eq!(out, [0x82, 0x04, 0x00]);
        out.clear();
        let long = [b'a'; 56];
        rlp_encode(&Rlp::Bytes(&long), &mut out);
        assert_eq!(&out[..2], &[0xb8, 56]);
    }

    #[test]
    fn transfer_call_data_has_the_selector_and_two_words() {
        let to = Address([0x11; 20]);
        let data = erc20_transfer_data(&to, 1_500_000);
        assert_eq!(data.len(), 68);
        assert_eq!(hex::encode(&data[..4]), "a9059cbb");
        assert_eq!(&data[16..36], &[0x11; 20]);
        assert_eq!(
            u128::from_be_bytes(data[52..68].try_into().unwrap_or([0; 16])),
            1_500_000
        );
    }

    #[test]
    fn transfer_topic_is_the_keccak_of_the_event_signature() {
        assert_eq!(
            hex::encode(keccak256(b"Transfer(address,address,uint256)")),
            "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
        );
    }
}
