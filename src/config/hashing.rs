//! Password hashing: the algorithm and cost of new hashes, and how many hashes may run or
//! wait at once.

use infrastructure::hashing::HashPolicy;

use super::available_cpus;
use super::reader::{Reader, parse_either, parse_number};

/// The hashing settings, as read; [`super::Config`] documents each.
pub(super) struct Hashing {
    /// `PASSWORD_HASH` with the parameters of the chosen algorithm.
    pub(super) hash_policy: HashPolicy,
    /// `PASSWORD_HASH_CONCURRENCY`.
    pub(super) hash_concurrency: usize,
    /// `PASSWORD_HASH_QUEUE`.
    pub(super) hash_queue: usize,
}

impl Hashing {
    /// Reads the hashing variables, recording bad values in `reader`.
    pub(super) fn read(reader: &mut Reader<'_>) -> Self {
        Self {
            hash_policy: read_hash_policy(reader),
            hash_concurrency: reader.get(
                "PASSWORD_HASH_CONCURRENCY",
                available_cpus(),
                parse_number(1, 1024),
            ),
            hash_queue: reader.get("PASSWORD_HASH_QUEUE", 32, parse_number(0, 100_000)),
        }
    }
}

/// The policy for new hashes. The parameters of both algorithms are read whichever is
/// chosen, so a bad value is reported before the day someone switches to it.
fn read_hash_policy(reader: &mut Reader<'_>) -> HashPolicy {
    #[derive(Clone, Copy)]
    enum Algorithm {
        Bcrypt,
        Argon2id,
    }
    let algorithm = reader.get(
        "PASSWORD_HASH",
        Algorithm::Bcrypt,
        parse_either(
            ("bcrypt", Algorithm::Bcrypt),
            ("argon2id", Algorithm::Argon2id),
        ),
    );
    let cost = reader.get(
        "BCRYPT_COST",
        HashPolicy::DEFAULT_BCRYPT_COST,
        parse_number(4, 31),
    );
    let memory_kib = reader.get(
        "ARGON2_MEMORY_KIB",
        HashPolicy::DEFAULT_ARGON2_MEMORY_KIB,
        parse_number(8, 4 * 1024 * 1024),
    );
    let iterations = reader.get(
        "ARGON2_ITERATIONS",
        HashPolicy::DEFAULT_ARGON2_ITERATIONS,
        parse_number(1, 100),
    );
    let parallelism = reader.get(
        "ARGON2_PARALLELISM",
        HashPolicy::DEFAULT_ARGON2_PARALLELISM,
        parse_number(1, 64),
    );
    match algorithm {
        Algorithm::Bcrypt => HashPolicy::Bcrypt { cost },
        Algorithm::Argon2id => HashPolicy::Argon2id {
            memory_kib,
            iterations,
            parallelism,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::config_from;

    #[test]
    fn a_bad_cost_is_reported_even_for_the_algorithm_not_chosen() {
        let errors =
            config_from(&[("PASSWORD_HASH", "argon2id"), ("BCRYPT_COST", "99")]).unwrap_err();
        assert_eq!(errors.0[0].variable, "BCRYPT_COST");
    }
}
