//! Prefixed object IDs (`pay_`, `key_`, ...) and request IDs (`req_`).

use rand::Rng;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn base62(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char)
        .collect()
}

/// A new object ID: `prefix` + `_` + 24 base62 characters.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", base62(24))
}

/// A new request ID: `req_` + 24 base62 characters.
pub fn request_id() -> String {
    new_id("req")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_have_the_contract_shape() {
        let id = super::request_id();
        assert_eq!(id.len(), 28);
        assert!(id.starts_with("req_"));
        assert!(id[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(super::new_id("key"), super::new_id("key"));
    }
}
