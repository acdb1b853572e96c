//! Ethereum addresses as merchants give them: `0x` and 40 hex digits, with
//! the EIP-55 checksum checked when the letters are mixed case (all lower or
//! all upper case carries no checksum). Stored and shown checksummed.

use std::str::FromStr as _;

use alloy_primitives::Address;

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("is not an Ethereum address (0x and 40 hex digits)")]
    Format,
    #[error("fails its EIP-55 checksum (a mistyped letter?)")]
    Checksum,
    #[error("is the zero address, which nobody can spend from")]
    Zero,
}

/// Parses `text`, checking the EIP-55 checksum when it is mixed case.
pub fn parse(text: &str) -> Result<Address, AddressError> {
    let hex = text.strip_prefix("0x").ok_or(AddressError::Format)?;
    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AddressError::Format);
    }
    let has_lower = hex.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = hex.bytes().any(|b| b.is_ascii_uppercase());
    let address = if has_lower && has_upper {
        Address::parse_checksummed(text, None).map_err(|_| AddressError::Checksum)?
    } else {
        Address::from_str(text).map_err(|_| AddressError::Format)?
    };
    if address == Address::ZERO {
        return Err(AddressError::Zero);
    }
    Ok(address)
}

/// The EIP-55 form of `text` (see [`parse`]).
pub fn checksummed(text: &str) -> Result<String, AddressError> {
    parse(text).map(|a| a.to_checksum(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eip55_vectors_pass_and_a_flipped_letter_fails() {
        // The examples of EIP-55.
        for good in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            assert_eq!(checksummed(good).unwrap(), good);
            assert_eq!(checksummed(&good.to_ascii_lowercase()).unwrap(), good);
            assert_eq!(
                checksummed(&format!("0x{}", good[2..].to_ascii_uppercase())).unwrap(),
                good
            );
        }
        assert_eq!(
            parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"),
            Err(AddressError::Checksum)
        );
        assert_eq!(
            parse("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
            Err(AddressError::Format)
        );
        assert_eq!(
            parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA"),
            Err(AddressError::Format)
        );
        assert_eq!(
            parse("0xzaAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
            Err(AddressError::Format)
        );
        assert_eq!(parse(&format!("0x{}", "0".repeat(40))), Err(AddressError::Zero));
    }
}
