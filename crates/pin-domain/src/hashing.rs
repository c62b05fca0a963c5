//! Hashing secrets (PINs, PIN halves) with argon2id into PHC strings.
//!
//! This is pure computation: the salt comes from the caller's CSPRNG and nothing here
//! touches the clock or the network. It is slow on purpose, so the server runs it on a
//! bounded pool, never on its async workers.

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::phc::{Output, ParamsString, Salt},
};
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
        self.hash_in(secret, rng, &mut HashMemory::default())
    }

    /// [`PinHasher::hash`] in `memory`, which a hashing thread keeps from one hash to the
    /// next.
    pub fn hash_in(
        &self,
        secret: &str,
        rng: &mut impl CryptoRng,
        memory: &mut HashMemory,
    ) -> Result<PinHash, HashError> {
        let params_error = |error: &dyn std::fmt::Display| HashError::Params(error.to_string());
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let mut out = Zeroizing::new([0u8; Params::DEFAULT_OUTPUT_LEN]);
        self.argon2()
            .hash_password_into_with_memory(
                secret.as_bytes(),
                &salt,
                &mut out[..],
                memory.blocks(self.params.block_count()),
            )
            .map_err(|error| params_error(&error))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(|error| params_error(&error))?,
            salt: Some(Salt::new(&salt).map_err(|error| params_error(&error))?),
            hash: Some(Output::new(&out[..]).map_err(|error| params_error(&error))?),
        };
        Ok(PinHash(phc.to_string()))
    }

    /// Verifies a secret against a stored hash, with the hash's own parameters.
    pub fn verify(&self, secret: &str, stored: &PinHash) -> Verification {
        self.verify_in(secret, stored, &mut HashMemory::default())
    }

    /// [`PinHasher::verify`] in `memory`, which a hashing thread keeps from one
    /// verification to the next.
    pub fn verify_in(
        &self,
        secret: &str,
        stored: &PinHash,
        memory: &mut HashMemory,
    ) -> Verification {
        let Ok(parsed) = PasswordHash::new(&stored.0) else {
            return Verification::Mismatch;
        };
        let algorithm = Algorithm::try_from(parsed.algorithm.as_str());
        let version = parsed.version.map_or(Ok(Version::V0x13), Version::try_from);
        let (Ok(algorithm), Ok(version), Ok(used), Some(salt), Some(expected)) = (
            algorithm,
            version,
            Params::try_from(&parsed),
            parsed.salt.as_ref(),
            parsed.hash.as_ref(),
        ) else {
            return Verification::Mismatch;
        };
        let mut out = Zeroizing::new(vec![0u8; expected.len()]);
        let computed = Argon2::new(algorithm, version, used.clone())
            .hash_password_into_with_memory(
                secret.as_bytes(),
                salt,
                &mut out[..],
                memory.blocks(used.block_count()),
            );
        // `Output` compares in constant time.
        match (computed, Output::new(&out[..])) {
            (Ok(()), Ok(output)) if output == *expected => Verification::Match {
                needs_rehash: used.m_cost() != self.params.m_cost()
                    || used.t_cost() != self.params.t_cost()
                    || used.p_cost() != self.params.p_cost()
                    || algorithm != Algorithm::Argon2id,
            },
            _ => Verification::Mismatch,
        }
    }

    /// Spends the time of one verification without anything to verify against: used when
    /// the identity is unknown or has no usable hash, so its answer takes as long.
    pub fn verify_dummy(&self, secret: &str) -> Verification {
        self.verify_dummy_in(secret, &mut HashMemory::default())
    }

    /// [`PinHasher::verify_dummy`] in `memory`.
    pub fn verify_dummy_in(&self, secret: &str, memory: &mut HashMemory) -> Verification {
        let _ = self.verify_in(secret, &self.dummy, memory);
        Verification::Mismatch
    }
}

/// argon2's working memory, kept by a hashing thread from one hash to the next: allocating
/// (and faulting in) `memory_kib` KiB for every verification costs time and leaves the
/// allocator holding freed blocks. It grows to the largest parameters it has served.
#[derive(Default)]
pub struct HashMemory(Vec<Block>);

impl HashMemory {
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.0.len() < count {
            self.0.resize(count, Block::new());
        }
        &mut self.0[..count]
    }
}

impl std::fmt::Debug for HashMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HashMemory({} KiB)", self.0.len())
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
    fn hashes_are_the_argon2_crates_phc_strings_both_ways_and_memory_is_reused() {
        use argon2::{PasswordHasher, PasswordVerifier};

        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let h = hasher(CHEAP);
        let params =
            Params::new(CHEAP.memory_kib, CHEAP.iterations, CHEAP.parallelism, None).unwrap();
        let crate_hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        // Stored before the hasher kept its memory: the argon2 crate's own PHC strings.
        let stored = PinHash(
            crate_hasher
                .hash_password_with_salt(b"ABCDEFGH", b"0123456789abcdef")
                .unwrap()
                .to_string(),
        );
        let mut memory = HashMemory::default();
        assert!(h.verify_in("ABCDEFGH", &stored, &mut memory).matched());
        assert!(!h.verify_in("ABCDEFGX", &stored, &mut memory).matched());
        // And the other way round, in the same memory again.
        let ours = h.hash_in("ABCDEFGH", &mut rng, &mut memory).unwrap();
        assert!(
            crate_hasher
                .verify_password(b"ABCDEFGH", ours.as_str())
                .is_ok()
        );
        assert!(h.verify_in("ABCDEFGH", &ours, &mut memory).matched());
        assert_eq!(memory.0.len(), 256, "one block per KiB, kept");
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
