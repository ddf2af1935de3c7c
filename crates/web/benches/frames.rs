//! Cost of the WebSocket protocol's frames on one thread (SPEC §5): decoding a client's
//! text frame into domain values (`publish`, `join`, a refused one), and encoding the
//! `message` frame — once per connection (what a catch-up read sends) against the
//! shared encoding a message carried by the in-process bus gets (encoded once per
//! worker thread, then a reference count per connection).

#![allow(missing_docs, clippy::expect_used)]

mod common;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use portico_web::room_json::MessageJson;
use portico_web::ws::protocol::{ServerFrame, decode, shared_message_frame};

fn frames(criterion: &mut Criterion) {
    let limit = domain::DEFAULT_MESSAGE_MAX_BYTES;
    let publish = format!(
        r#"{{"type":"publish","room":"general","body":"{}","id":"c-42"}}"#,
        "x".repeat(64)
    );
    let join = r#"{"type":"join","room":"general","since":42}"#;
    let unknown = r#"{"type":"shout","room":"general"}"#;

    let mut group = criterion.benchmark_group("ws_frames");
    group.bench_function("decode/publish", |bench| {
        bench.iter(|| decode(black_box(&publish), limit));
    });
    group.bench_function("decode/join", |bench| {
        bench.iter(|| decode(black_box(join), limit));
    });
    group.bench_function("decode/unknown type (refused)", |bench| {
        bench.iter(|| decode(black_box(unknown), limit));
    });

    let owned = common::chat_line(123_456);
    group.bench_function("encode/message, per connection", |bench| {
        bench.iter(|| ServerFrame::Message(MessageJson::from(black_box(&owned))).to_text());
    });
    let carried = Arc::new(common::chat_line(123_456));
    // The first call encodes; every later one is what each further member costs.
    let _ = shared_message_frame(&carried);
    group.bench_function("encode/message, shared (each further member)", |bench| {
        bench.iter(|| shared_message_frame(black_box(&carried)));
    });
    group.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
