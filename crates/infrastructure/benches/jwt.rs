//! Cost of verifying one access token (HS256, RFC 8725 checks, claims parsed into domain
//! types), the first step of every authenticated request, on the calling thread.

#![allow(missing_docs, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use domain::ports::{AccessTokens as _, Clock};
use domain::{SessionId, UserId};
use portico_infrastructure::jwt::{JwtAccessTokens, JwtSettings};
use uuid::Uuid;

/// The verifier's clock stands still, so every iteration verifies a valid token.
struct Frozen(DateTime<Utc>);

impl Clock for Frozen {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn verify(criterion: &mut Criterion) {
    let now = Utc::now();
    let tokens = JwtAccessTokens::new(
        JwtSettings {
            secret: b"benchmark-secret-0123456789-abcdefghijklmnop".to_vec(),
            issuer: "portico".into(),
            audience: "portico".into(),
            ttl: Duration::minutes(15),
        },
        Arc::new(Frozen(now)),
    )
    .expect("a 44-byte secret is accepted");
    let mut user = test_support::contracts::new_user("ada@example.com").user;
    user.id = UserId::from_uuid(Uuid::from_u128(1));
    let token = tokens
        .issue(
            &user,
            SessionId::from_uuid(Uuid::from_u128(2)),
            now,
            Uuid::from_u128(3),
        )
        .expect("issued")
        .token;
    let forged = format!("{}x", &token[..token.len() - 1]);

    let mut group = criterion.benchmark_group("jwt");
    group.bench_function("verify/valid", |bench| {
        bench.iter(|| tokens.verify(black_box(&token)));
    });
    group.bench_function("verify/bad signature", |bench| {
        bench.iter(|| tokens.verify(black_box(&forged)));
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
