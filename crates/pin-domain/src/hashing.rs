//! Hashing secrets (PINs, PIN halves) with argon2id into PHC strings.
//!
//! This is pure computation: the salt comes from the caller's CSPRNG and nothing here
//! touches the clock or the network. It is slow on purpose, so the server runs it on a
//! bounded pool, never on its async workers.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

/// An argon2id hash of a secret, as a PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
/// It holds no secret, but it is still kept out of logs.
#[derive(Clone, PartialEq, Eq)]
pub struct PinHash(String);

impl std::fmt::Debug for PinHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinHash(<phc>)")
    }
}

impl PinHash {
    /// Accepts a stored PHC string; refuses anything that is not an argon2 PHC string.
    pub fn parse(phc: &str) -> Result<Self, HashError> {
        let parsed = PasswordHash::new(phc).map_err(|_| HashError::Malformed)?;
        Params::try_from(&parsed).map_err(|_| HashError::Malformed)?;
        Ok(Self(phc.to_owned()))
    }

    /// The PHC string, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB (default 19456).
    pub memory_kib: u32,
    /// Passes over memory (default 2).
    pub iterations: u32,
    /// Lanes (default 1).
    pub parallelism: u32,
}

impl HashParams {
    /// Checks the parameters against what argon2 accepts.
    pub fn check(&self) -> Result<(), HashError> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map(|_| ())
            .map_err(|error| HashError::Params(error.to_string()))
    }
}

/// Problems with hashing parameters or stored hashes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The parameters are outside what argon2 accepts.
    #[error("argon2 parameters are invalid: {0}")]
    Params(String),
    /// A stored hash is not an argon2 PHC string.
    #[error("stored hash is not an argon2 phc string")]
    Malformed,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The secret matches; `needs_rehash` when the hash used outdated parameters.
    Match {
        /// The stored hash should be replaced by one with the current parameters.
        needs_rehash: bool,
    },
    /// The secret does not match.
    Mismatch,
}

impl Verification {
    /// Whether the secret matched.
    pub fn matched(self) -> bool {
        matches!(self, Self::Match { .. })
    }
}

/// Hashes and verifies secrets with fixed argon2id parameters.
#[derive(Clone)]
pub struct PinHasher {
    params: Params,
    dummy: PinHash,
}

impl std::fmt::Debug for PinHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinHasher")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .finish()
    }
}

const SALT_LEN: usize = 16;

impl PinHasher {
    /// Builds a hasher; the RNG salts a dummy hash used to make unknown identities cost as
    /// much as known ones.
    pub fn new(params: HashParams, rng: &mut impl CryptoRng) -> Result<Self, HashError> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|error| HashError::Params(error.to_string()))?;
        let mut hasher = Self {
            dummy: PinHash(String::new()),
            params,
        };
        let mut filler = [0u8; 16];
        rng.fill_bytes(&mut filler);
        hasher.dummy = hasher.hash(&hex_lower(&filler), rng)?;
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes a secret with a fresh salt from `rng`.
    pub fn hash(&self, secret: &str, rng: &mut impl CryptoRng) -> Result<PinHash, HashError> {
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let hash = self
            .argon2()
            .hash_password_with_salt(secret.as_bytes(), &salt)
            .map_err(|error| HashError::Params(error.to_string()))?;
        Ok(PinHash(hash.to_string()))
    }

    /// Verifies a secret against a stored hash, with the hash's own parameters.
    pub fn verify(&self, secret: &str, stored: &PinHash) -> Verification {
        let Ok(parsed) = PasswordHash::new(&stored.0) else {
            return Verification::Mismatch;
        };
        let secret = Zeroizing::new(secret.as_bytes().to_vec());
        match self.argon2().verify_password(&secret, &parsed) {
            Ok(()) => Verification::Match {
                needs_rehash: Params::try_from(&parsed).map_or(true, |used| {
                    used.m_cost() != self.params.m_cost()
                        || used.t_cost() != self.params.t_cost()
                        || used.p_cost() != self.params.p_cost()
                }) || parsed.algorithm.as_str() != "argon2id",
            },
            Err(_) => Verification::Mismatch,
        }
    }

    /// Spends the time of one verification without anything to verify against: used when
    /// the identity is unknown or has no usable hash, so its answer takes as long.
    pub fn verify_dummy(&self, secret: &str) -> Verification {
        let _ = self.verify(secret, &self.dummy);
        Verification::Mismatch
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// Cheap parameters: the behaviour is the same, only the cost differs.
    const CHEAP: HashParams = HashParams {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    };

    fn hasher(params: HashParams) -> PinHasher {
        PinHasher::new(params, &mut ChaCha20Rng::seed_from_u64(7)).unwrap()
    }

    #[test]
    fn a_hash_verifies_its_secret_and_nothing_else() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let h = hasher(CHEAP);
        let hash = h.hash("ABCDEFGH", &mut rng).unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
        assert_eq!(
            h.verify("ABCDEFGH", &hash),
            Verification::Match {
                needs_rehash: false
            }
        );
        assert_eq!(h.verify("ABCDEFGJ", &hash), Verification::Mismatch);
    }

    #[test]
    fn the_same_secret_hashes_differently_each_time() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let h = hasher(CHEAP);
        assert_ne!(
            h.hash("ABCDEFGH", &mut rng).unwrap(),
            h.hash("ABCDEFGH", &mut rng).unwrap()
        );
    }

    #[test]
    fn a_hash_with_outdated_parameters_asks_for_a_rehash() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let old = hasher(CHEAP).hash("ABCDEFGH", &mut rng).unwrap();
        let current = hasher(HashParams {
            iterations: 2,
            ..CHEAP
        });
        assert_eq!(
            current.verify("ABCDEFGH", &old),
            Verification::Match { needs_rehash: true }
        );
    }

    #[test]
    fn stored_hashes_are_parsed_and_garbage_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let hash = hasher(CHEAP).hash("ABCDEFGH", &mut rng).unwrap();
        assert_eq!(PinHash::parse(hash.as_str()).unwrap(), hash);
        assert_eq!(PinHash::parse("plain-text"), Err(HashError::Malformed));
    }

    #[test]
    fn the_dummy_verification_never_matches() {
        let h = hasher(CHEAP);
        assert_eq!(h.verify_dummy("ABCDEFGH"), Verification::Mismatch);
    }

    #[test]
    fn debug_output_shows_no_hash() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let hash = hasher(CHEAP).hash("ABCDEFGH", &mut rng).unwrap();
        assert_eq!(format!("{hash:?}"), "PinHash(<phc>)");
    }

    #[test]
    fn invalid_parameters_are_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        assert!(
            PinHasher::new(
                HashParams {
                    memory_kib: 1,
                    ..CHEAP
                },
                &mut rng
            )
            .is_err()
        );
    }
}
