//! Password hashing: bcrypt by default, argon2id on request, and verification of any
//! hash either of them ever stored, so that a deployment can change algorithm or raise
//! costs without locking anyone out.

use argon2::password_hash::{Error as PhcError, PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use domain::ports::{AdapterError, PasswordCheck, PasswordHasher};
use domain::{Password, PasswordHash};

use crate::blocking::CpuLane;

/// The algorithm and parameters new hashes are made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashPolicy {
    /// bcrypt (`$2b$`), with a cost from 4 to 31.
    Bcrypt {
        /// log2 of the number of rounds.
        cost: u32,
    },
    /// argon2id (`$argon2id$v=19$`), with OWASP's parameters by default.
    Argon2id {
        /// Memory, in KiB, each hash takes.
        memory_kib: u32,
        /// Passes over the memory.
        iterations: u32,
        /// Lanes.
        parallelism: u32,
    },
}

impl HashPolicy {
    /// bcrypt's default cost: 12, about a quarter of a second on a current core.
    pub const DEFAULT_BCRYPT_COST: u32 = 12;
    /// OWASP Password Storage Cheat Sheet, first argon2id option: 19 MiB, 2 passes, 1 lane.
    pub const DEFAULT_ARGON2_MEMORY_KIB: u32 = Params::DEFAULT_M_COST;
    /// See [`Self::DEFAULT_ARGON2_MEMORY_KIB`].
    pub const DEFAULT_ARGON2_ITERATIONS: u32 = Params::DEFAULT_T_COST;
    /// See [`Self::DEFAULT_ARGON2_MEMORY_KIB`].
    pub const DEFAULT_ARGON2_PARALLELISM: u32 = Params::DEFAULT_P_COST;
}

/// Why a [`HashPolicy`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HashPolicyError {
    /// bcrypt accepts costs from 4 to 31.
    #[error("bcrypt cost must be between 4 and 31, got {0}")]
    BcryptCost(u32),
    /// argon2 refused the parameters.
    #[error("invalid argon2id parameters: {0}")]
    Argon2(String),
}

/// A stored hash, recognised by its prefix, with the parameters it was made with
/// already read: a hash whose parameters cannot be read is refused here, before any
/// verification.
enum StoredHash<'a> {
    Bcrypt {
        encoded: &'a str,
        cost: u32,
    },
    Argon2 {
        hash: Box<argon2::PasswordHash>,
        params: Params,
    },
}

impl<'a> StoredHash<'a> {
    fn parse(stored: &'a PasswordHash) -> Result<Self, AdapterError> {
        let encoded = stored.as_ref();
        if ["$2a$", "$2b$", "$2x$", "$2y$"]
            .iter()
            .any(|prefix| encoded.starts_with(prefix))
        {
            let parts: bcrypt::HashParts = encoded
                .parse()
                .map_err(|error| AdapterError::new("malformed bcrypt hash", error))?;
            return Ok(Self::Bcrypt {
                encoded,
                cost: parts.get_cost(),
            });
        }
        if encoded.starts_with("$argon2") {
            let hash = argon2::PasswordHash::new(encoded)
                .map_err(|error| AdapterError::new("malformed argon2 hash", error.to_string()))?;
            let params = Params::try_from(&hash).map_err(|error| {
                AdapterError::new("malformed argon2 parameters", error.to_string())
            })?;
            return Ok(Self::Argon2 {
                hash: Box::new(hash),
                params,
            });
        }
        Err(AdapterError::new(
            "stored password hash of unknown algorithm",
            "unrecognised prefix",
        ))
    }

    /// Whether the hash uses another algorithm or weaker parameters than `policy`.
    fn is_outdated(&self, policy: HashPolicy) -> bool {
        match (policy, self) {
            (HashPolicy::Bcrypt { cost }, Self::Bcrypt { cost: stored, .. }) => *stored < cost,
            (
                HashPolicy::Argon2id {
                    memory_kib,
                    iterations,
                    parallelism,
                },
                Self::Argon2 { hash, params },
            ) => {
                hash.algorithm.as_str() != argon2::ARGON2ID_IDENT.as_str()
                    || hash.version != Some(Version::V0x13.into())
                    || params.m_cost() < memory_kib
                    || params.t_cost() < iterations
                    || params.p_cost() != parallelism
            }
            _ => true,
        }
    }
}

/// The [`PasswordHasher`] port over bcrypt and argon2id, running every hash and
/// verification on a bounded [`CpuLane`].
#[derive(Debug, Clone)]
pub struct PasswordHashing {
    policy: HashPolicy,
    lane: CpuLane,
    dummy: PasswordHash,
}

impl PasswordHashing {
    /// Checks the policy and computes, once, the dummy hash that logins for unknown
    /// addresses verify against (so it costs what the configured algorithm costs).
    ///
    /// # Errors
    /// [`HashPolicyError`] when the parameters are out of range.
    pub fn new(policy: HashPolicy, lane: CpuLane) -> Result<Self, HashPolicyError> {
        if let HashPolicy::Bcrypt { cost } = policy
            && !(4..=31).contains(&cost)
        {
            return Err(HashPolicyError::BcryptCost(cost));
        }
        let dummy = hash_password(policy, "portico: nobody's password")
            .map_err(|error| HashPolicyError::Argon2(error.to_string()))?;
        Ok(Self {
            policy,
            lane,
            dummy,
        })
    }
}

fn argon2_hasher(
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
) -> Result<Argon2<'static>, argon2::Error> {
    let params = Params::new(memory_kib, iterations, parallelism, None)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` under `policy` on the calling thread (the port's `hash` runs this on
/// the bounded lane). Public for the benchmarks.
///
/// # Errors
/// [`AdapterError`] when the parameters are refused or the random source fails.
pub fn hash_password(policy: HashPolicy, password: &str) -> Result<PasswordHash, AdapterError> {
    let encoded = match policy {
        // `Password` already refuses more than 72 bytes and NUL characters, so bcrypt's
        // truncation can never apply; its `non_truncating_*` variants would also refuse
        // exactly 72 bytes (they count a terminator), which the contract allows.
        HashPolicy::Bcrypt { cost } => bcrypt::hash(password, cost)
            .map_err(|error| AdapterError::new("bcrypt hashing failed", error))?,
        HashPolicy::Argon2id {
            memory_kib,
            iterations,
            parallelism,
        } => argon2_hasher(memory_kib, iterations, parallelism)
            .map_err(|error| AdapterError::new("invalid argon2 parameters", error.to_string()))?
            .hash_password(password.as_bytes())
            .map_err(|error| AdapterError::new("argon2 hashing failed", error.to_string()))?
            .to_string(),
    };
    Ok(PasswordHash::new(encoded))
}

/// Verifies `password` against a stored hash of any supported form on the calling thread
/// (the port's `verify` runs this on the bounded lane). Public for the benchmarks.
///
/// # Errors
/// [`AdapterError`] for a malformed or unknown stored hash.
pub fn verify_password(
    policy: HashPolicy,
    password: &str,
    stored: &PasswordHash,
) -> Result<PasswordCheck, AdapterError> {
    let stored = StoredHash::parse(stored)?;
    let matches = match &stored {
        StoredHash::Bcrypt { encoded, .. } => bcrypt::verify(password, encoded)
            .map_err(|error| AdapterError::new("malformed bcrypt hash", error))?,
        // The parameters come from the stored hash, not from the policy.
        StoredHash::Argon2 { hash, .. } => {
            match Argon2::default().verify_password(password.as_bytes(), hash.as_ref()) {
                Ok(()) => true,
                Err(PhcError::PasswordInvalid) => false,
                Err(error) => {
                    return Err(AdapterError::new(
                        "argon2 verification failed",
                        error.to_string(),
                    ));
                }
            }
        }
    };
    if !matches {
        return Ok(PasswordCheck::Mismatch);
    }
    Ok(PasswordCheck::Match {
        outdated: stored.is_outdated(policy),
    })
}

#[async_trait]
impl PasswordHasher for PasswordHashing {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, AdapterError> {
        let (policy, password) = (self.policy, password.clone());
        self.lane
            .run(move || hash_password(policy, password.expose()))
            .await?
    }

    async fn verify(
        &self,
        password: &Password,
        stored: &PasswordHash,
    ) -> Result<PasswordCheck, AdapterError> {
        let (policy, password, stored) = (self.policy, password.clone(), stored.clone());
        self.lane
            .run(move || verify_password(policy, password.expose(), &stored))
            .await?
    }

    fn dummy_hash(&self) -> PasswordHash {
        self.dummy.clone()
    }

    fn is_saturated(&self) -> bool {
        self.lane.is_saturated()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    // The cheapest parameters each algorithm accepts, so the suite stays fast; what is
    // under test is the bookkeeping around them, not their strength.
    const BCRYPT_4: HashPolicy = HashPolicy::Bcrypt { cost: 4 };
    const BCRYPT_5: HashPolicy = HashPolicy::Bcrypt { cost: 5 };

    const fn argon2id(memory_kib: u32, iterations: u32, parallelism: u32) -> HashPolicy {
        HashPolicy::Argon2id {
            memory_kib,
            iterations,
            parallelism,
        }
    }

    const ARGON_SMALL: HashPolicy = argon2id(64, 1, 1);

    fn hasher(policy: HashPolicy) -> PasswordHashing {
        PasswordHashing::new(policy, CpuLane::new(2, 16)).unwrap()
    }

    fn password(raw: &str) -> Password {
        Password::parse(raw).unwrap()
    }

    #[test]
    fn the_hasher_is_saturated_when_its_lane_is() {
        let lane = CpuLane::new(1, 0);
        let hashing = PasswordHashing::new(BCRYPT_4, lane).unwrap();
        assert!(!hashing.is_saturated(), "an idle lane has room");
    }

    #[tokio::test]
    async fn a_hashed_password_verifies_with_either_algorithm() {
        for policy in [BCRYPT_4, ARGON_SMALL] {
            let hashing = hasher(policy);
            let secret = password("correct horse battery staple");
            let hash = hashing.hash(&secret).await.unwrap();
            let check = hashing.verify(&secret, &hash).await.unwrap();
            assert_eq!(
                check,
                PasswordCheck::Match { outdated: false },
                "policy {policy:?}"
            );
        }
    }

    #[tokio::test]
    async fn hashes_carry_the_algorithm_and_parameters_of_the_policy() {
        let secret = password("correct horse battery staple");
        for (policy, prefix) in [
            (BCRYPT_4, "$2b$04$"),
            (ARGON_SMALL, "$argon2id$v=19$m=64,t=1,p=1$"),
            (argon2id(128, 2, 1), "$argon2id$v=19$m=128,t=2,p=1$"),
        ] {
            let hashing = hasher(policy);
            let first = hashing.hash(&secret).await.unwrap();
            let hashed = first.as_ref();
            assert!(hashed.starts_with(prefix), "{policy:?} gave {hashed}");
            let second = hashing.hash(&secret).await.unwrap();
            assert_ne!(first, second, "policy {policy:?} salts each hash");
        }
    }

    #[tokio::test]
    async fn a_wrong_password_is_a_mismatch() {
        for policy in [BCRYPT_4, ARGON_SMALL] {
            let hashing = hasher(policy);
            let hash = hashing.hash(&password("correct horse")).await.unwrap();
            let check = hashing
                .verify(&password("correct horsf"), &hash)
                .await
                .unwrap();
            assert_eq!(check, PasswordCheck::Mismatch, "policy {policy:?}");
        }
    }

    #[tokio::test]
    async fn a_match_is_outdated_when_the_hash_is_weaker_than_or_foreign_to_the_policy() {
        let secret = password("correct horse battery staple");
        for (stored_with, policy, outdated) in [
            (BCRYPT_4, BCRYPT_5, true),
            (BCRYPT_4, BCRYPT_4, false),
            (BCRYPT_5, BCRYPT_4, false),
            (BCRYPT_4, ARGON_SMALL, true),
            (ARGON_SMALL, BCRYPT_4, true),
            (ARGON_SMALL, argon2id(128, 1, 1), true),
            (ARGON_SMALL, argon2id(64, 2, 1), true),
            (ARGON_SMALL, ARGON_SMALL, false),
            (argon2id(128, 2, 1), ARGON_SMALL, false),
        ] {
            let hash = hasher(stored_with).hash(&secret).await.unwrap();
            let check = hasher(policy).verify(&secret, &hash).await.unwrap();
            assert_eq!(
                check,
                PasswordCheck::Match { outdated },
                "hash made under {stored_with:?}, checked under {policy:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_argon2i_hash_is_outdated_under_an_argon2id_policy() {
        let params = Params::new(64, 1, 1, None).unwrap();
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, params);
        let encoded = argon2::PasswordHasher::hash_password(&argon2i, b"correct horse battery")
            .unwrap()
            .to_string();
        assert!(encoded.starts_with("$argon2i$"), "made {encoded}");

        let check = hasher(ARGON_SMALL)
            .verify(
                &password("correct horse battery"),
                &PasswordHash::new(encoded),
            )
            .await
            .unwrap();

        assert_eq!(check, PasswordCheck::Match { outdated: true });
    }

    #[tokio::test]
    async fn raising_the_policy_locks_nobody_out() {
        let secret = password("correct horse battery staple");
        for (old, raised) in [
            (BCRYPT_4, HashPolicy::Bcrypt { cost: 6 }),
            (ARGON_SMALL, argon2id(128, 2, 1)),
        ] {
            let hash = hasher(old).hash(&secret).await.unwrap();
            let raised = hasher(raised);
            let check = raised.verify(&secret, &hash).await.unwrap();
            assert_eq!(
                check,
                PasswordCheck::Match { outdated: true },
                "from {old:?}"
            );
            let wrong = raised
                .verify(&password("not the password"), &hash)
                .await
                .unwrap();
            assert_eq!(wrong, PasswordCheck::Mismatch, "from {old:?}");
        }
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_is_an_error_never_a_match() {
        let secret = password("plaintext");
        // A sound bcrypt hash, but of a cost bcrypt refuses to compute.
        let cost_99 = hash_password(BCRYPT_4, "plaintext")
            .unwrap()
            .as_ref()
            .replacen("$04$", "$99$", 1);
        for policy in [BCRYPT_4, ARGON_SMALL] {
            let hashing = hasher(policy);
            for stored in [
                cost_99.as_str(),
                "",
                "plaintext",
                "$2b$04$short",
                "$argon2id$garbage",
                "$argon2id$v=19$m=64,t=1,p=1$bad$bad",
                "$5$rounds=1000$sha256crypt",
                // Sixty characters in bcrypt's shape, but a salt that is not base64.
                "$2b$04$!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
                // Parameters argon2 refuses: less memory than its minimum.
                "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
                // A PHC string of an algorithm argon2 does not know.
                "$argon2q$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            ] {
                let outcome = hashing
                    .verify(&secret, &PasswordHash::new(stored.to_owned()))
                    .await;
                assert!(
                    outcome.is_err(),
                    "stored {stored:?} under {policy:?} gave {outcome:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn the_dummy_hash_is_in_the_configured_algorithm_and_matches_nothing_ordinary() {
        for (policy, prefix) in [
            (BCRYPT_4, "$2b$04$"),
            (ARGON_SMALL, "$argon2id$v=19$m=64,t=1,p=1$"),
        ] {
            let hashing = hasher(policy);
            let dummy = hashing.dummy_hash();
            let hashed = dummy.as_ref();
            assert!(hashed.starts_with(prefix), "{policy:?} gave {hashed}");
            let check = hashing
                .verify(&password("password123"), &dummy)
                .await
                .unwrap();
            assert_eq!(check, PasswordCheck::Mismatch, "policy {policy:?}");
        }
    }

    #[test]
    fn out_of_range_policies_are_refused_with_the_reason() {
        for cost in [0, 3, 32] {
            let outcome = PasswordHashing::new(HashPolicy::Bcrypt { cost }, CpuLane::new(1, 16));
            assert!(
                matches!(outcome, Err(HashPolicyError::BcryptCost(c)) if c == cost),
                "bcrypt cost {cost} gave {outcome:?}"
            );
        }
        for policy in [
            argon2id(64, 1, 0),
            argon2id(4, 1, 1),
            argon2id(64, 0, 1),
            argon2id(8, 1, 2),
        ] {
            let outcome = PasswordHashing::new(policy, CpuLane::new(1, 16));
            assert!(
                matches!(outcome, Err(HashPolicyError::Argon2(_))),
                "{policy:?} gave {outcome:?}"
            );
        }
    }

    #[test]
    fn the_smallest_accepted_parameters_are_accepted() {
        // Cost 31 is accepted too, but computing its dummy hash would take days.
        for policy in [
            BCRYPT_4,
            argon2id(Params::MIN_M_COST, Params::MIN_T_COST, 1),
        ] {
            let outcome = PasswordHashing::new(policy, CpuLane::new(1, 16));
            assert!(outcome.is_ok(), "{policy:?} gave {outcome:?}");
        }
    }

    #[test]
    fn hashing_on_the_calling_thread_refuses_a_policy_out_of_range_too() {
        // `hash_password` is public (the benchmarks call it) and takes any policy: what
        // `PasswordHashing::new` would have refused is an error here, never a panic.
        for policy in [HashPolicy::Bcrypt { cost: 32 }, argon2id(1, 1, 1)] {
            let outcome = hash_password(policy, "plaintext");
            assert!(outcome.is_err(), "{policy:?} gave {outcome:?}");
        }
    }
}
