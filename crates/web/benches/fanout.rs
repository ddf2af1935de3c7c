//! Cost of fanning one published message out to N in-process subscribers, as the
//! WebSocket connections of one process do it (issue 19's rooms part): the in-process
//! bus hands the event (carrying the stored message) to every subscriber; each checks
//! with its `DeliveryTracker` that it is the next message owed, takes the shared
//! `message` frame and queues it on its bounded outbound queue. Everything but the
//! socket: no store read, no task wake-ups across threads, no `sendto`.
//!
//! criterion's time is per published message (N deliveries); its throughput line is in
//! deliveries per second (N elements per iteration).

#![allow(missing_docs, clippy::expect_used)]

mod common;

use std::sync::Arc;

use application::DeliveryTracker;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use domain::Seq;
use domain::ports::{BusSubscription, MessageBus as _, RoomEvent};
use infrastructure::bus::InProcessBus;
use portico_web::ws::protocol::shared_message_frame;
use tokio::sync::mpsc;

/// One member connection reduced to what delivery does in memory.
struct Member {
    subscription: Box<dyn BusSubscription>,
    tracker: DeliveryTracker,
    queue: mpsc::Sender<bytestring::ByteString>,
    socket: mpsc::Receiver<bytestring::ByteString>,
}

fn fanout(criterion: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let room = test_support::general();
    let mut group = criterion.benchmark_group("fanout");
    for members in [10_usize, 100, 1_000] {
        let bus = InProcessBus::default();
        let mut connections: Vec<Member> = (0..members)
            .map(|_| {
                let mut tracker = DeliveryTracker::new();
                tracker.follow(room.clone(), Seq::ZERO);
                let (queue, socket) = mpsc::channel(256);
                Member {
                    subscription: bus.subscribe(),
                    tracker,
                    queue,
                    socket,
                }
            })
            .collect();
        let mut seq = 0;
        group.throughput(Throughput::Elements(members as u64));
        group.bench_function(
            BenchmarkId::new("one message to N members", members),
            |bench| {
                bench.iter(|| {
                    seq += 1;
                    runtime.block_on(async {
                        let carried = Arc::new(common::chat_line(seq));
                        bus.publish(RoomEvent::Published {
                            room: room.clone(),
                            seq: carried.seq,
                            message: Some(carried),
                        })
                        .await
                        .expect("published");
                        for member in &mut connections {
                            let Ok(RoomEvent::Published {
                                message: Some(message),
                                ..
                            }) = member.subscription.next().await
                            else {
                                panic!("every member hears the message");
                            };
                            assert!(
                                member.tracker.admit_announced(&message),
                                "the next one owed"
                            );
                            member
                                .queue
                                .try_send(shared_message_frame(&message))
                                .expect("room in the queue");
                            // The writer's side, so the queue never fills.
                            member.socket.try_recv().expect("queued");
                        }
                    });
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
