//! How secrets that callers hold are stored: tokens and request fingerprints as hex
//! SHA-256, the one helper every module uses.

use pin_domain::OpaqueToken;
use sha2::{Digest, Sha256};

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What the store keeps of a session token, ticket or link: its SHA-256.
pub fn token_hash(token: &OpaqueToken) -> String {
    sha256_hex(token.expose_secret().as_bytes())
}
