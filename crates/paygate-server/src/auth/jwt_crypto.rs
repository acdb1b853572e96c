//! Ed25519 for `jsonwebtoken`, done by `ring` (already our TLS provider), so
//! the build carries one Ed25519 implementation and no RSA or NIST curves.
//! Only `EdDSA` is offered: any other algorithm is refused by construction.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result as JwtResult};
use jsonwebtoken::signature::{Error as SignatureError, Signer, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use ring::signature::{Ed25519KeyPair, UnparsedPublicKey, ED25519};

struct RingEdSigner(Ed25519KeyPair);

impl Signer<Vec<u8>> for RingEdSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignatureError> {
        Ok(self.0.sign(msg).as_ref().to_vec())
    }
}

impl JwtSigner for RingEdSigner {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

struct RingEdVerifier(Vec<u8>);

impl Verifier<Vec<u8>> for RingEdVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), SignatureError> {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(msg, signature)
            .map_err(|_| SignatureError::new())
    }
}

impl JwtVerifier for RingEdVerifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

fn signer(alg: &Algorithm, key: &EncodingKey) -> JwtResult<Box<dyn JwtSigner>> {
    if *alg != Algorithm::EdDSA {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    let pair = Ed25519KeyPair::from_pkcs8(key.as_bytes()).map_err(|_| ErrorKind::InvalidEddsaKey)?;
    Ok(Box::new(RingEdSigner(pair)))
}

fn verifier(alg: &Algorithm, key: &DecodingKey) -> JwtResult<Box<dyn JwtVerifier>> {
    if *alg != Algorithm::EdDSA {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    let bytes = key.try_get_as_bytes()?;
    if bytes.len() != 32 {
        return Err(ErrorKind::InvalidEddsaKey.into());
    }
    Ok(Box::new(RingEdVerifier(bytes.to_vec())))
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes this the process's provider. Idempotent.
pub fn install() {
    // Err means a provider is installed already: ours, by an earlier call.
    let _ = PROVIDER.install_default();
}
