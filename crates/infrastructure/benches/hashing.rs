//! Cost of hashing and verifying one password with each algorithm at its default
//! parameters (bcrypt cost 12; argon2id 19 MiB, 2 passes, 1 lane), called directly on
//! the current thread: the price of one login or registration, before any queueing.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use portico_infrastructure::hashing::{HashPolicy, hash_password, verify_password};

const PASSWORD: &str = "correct horse battery staple";

fn policies() -> [(&'static str, HashPolicy); 2] {
    [
        (
            "bcrypt cost 12",
            HashPolicy::Bcrypt {
                cost: HashPolicy::DEFAULT_BCRYPT_COST,
            },
        ),
        (
            "argon2id m=19456 t=2 p=1",
            HashPolicy::Argon2id {
                memory_kib: HashPolicy::DEFAULT_ARGON2_MEMORY_KIB,
                iterations: HashPolicy::DEFAULT_ARGON2_ITERATIONS,
                parallelism: HashPolicy::DEFAULT_ARGON2_PARALLELISM,
            },
        ),
    ]
}

fn hashing(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("password");
    group.sample_size(20);
    for (name, policy) in policies() {
        group.bench_function(format!("hash/{name}"), |bench| {
            bench.iter(|| hash_password(policy, black_box(PASSWORD)));
        });
        let Ok(stored) = hash_password(policy, PASSWORD) else {
            panic!("hashing failed for {name}");
        };
        group.bench_function(format!("verify/{name}"), |bench| {
            bench.iter(|| verify_password(policy, black_box(PASSWORD), &stored));
        });
    }
    group.finish();
}

criterion_group!(benches, hashing);
criterion_main!(benches);
