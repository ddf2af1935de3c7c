//! The message bus between instances on PostgreSQL `LISTEN/NOTIFY` (SPEC §8).
//!
//! An instance hands each event to its own subscribers at once (as the in-process bus
//! does) and sends it to the other instances with `pg_notify` on [`CHANNEL`]. One
//! listening connection per instance (tokio-postgres: diesel's connection cannot wait
//! for a notification) receives the other instances' events and hands them to its
//! subscribers; its own come back too and are skipped by the instance id they carry.
//!
//! The bus is a doorbell (see the port): a notification carries only what finds the
//! message in the store (`room`, `seq`), so a lost one costs latency, never a message.
//! When the listening connection drops, the listener reconnects (200 ms, doubling to
//! 5 s) and, once it listens again, tells every subscriber it lagged
//! ([`SubscriptionError::Lagged`]): they re-read their rooms and catch up from the
//! store, which covers whatever was notified while no one listened.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::ports::{AdapterError, BusSubscription, MessageBus, RoomEvent, SubscriptionError};
use domain::{PersonName, RoomName, Sender, Seq, SessionId, UserId};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, oneshot, watch};
use uuid::Uuid;

use super::{PgDatabase, PostgresUrl};
use crate::bus::DEFAULT_BUS_CAPACITY;

/// The notification channel every instance listens on.
pub const CHANNEL: &str = "portico_events";

/// The largest payload sent in one notification. PostgreSQL refuses payloads of 8000
/// bytes or more; the margin covers the estimate used to split presence events.
const PAYLOAD_LIMIT: usize = 7_000;

/// Every event fits in a payload, a presence change in as many as its rooms need: the
/// envelope (keys, two ids, a type; under 300 bytes) with the two longest names (every
/// character escaped at worst, six bytes) and the longest room name, quoted, with its
/// comma. Other events are a room name and ids at most. So encoding never refuses.
const _: () = assert!(
    300 + 2 * 6 * domain::user::MAX_NAME_CHARS + domain::MAX_ROOM_NAME_BYTES + 3 <= PAYLOAD_LIMIT
);

/// The first wait before reconnecting the listener; it doubles up to [`MAX_BACKOFF`].
/// A restarting server refuses the first reconnection ("the database system is shutting
/// down") and takes the next one, 200 ms later.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a subscriber is handed: an event, or word that events may have been lost.
#[derive(Debug, Clone)]
enum Signal {
    Event(RoomEvent),
    Lost,
}

/// The [`MessageBus`] port between instances sharing one PostgreSQL database.
#[derive(Clone)]
pub struct PgBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PgBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBus")
            .field("instance", &self.inner.instance)
            .field("listens", &*self.inner.listening.borrow())
            .finish_non_exhaustive()
    }
}

struct Inner {
    /// This instance's subscribers.
    local: broadcast::Sender<Signal>,
    /// Tags this instance's notifications, so that it skips them when they come back.
    instance: Uuid,
    /// Where notifications are sent from: the store's pool, through its door.
    database: PgDatabase,
    /// How many times the listener has started listening (once, then once per
    /// reconnection): shown by `Debug`, awaited by tests.
    listening: watch::Receiver<u64>,
    /// Dropped with the last handle, which ends the listener (a dropped sender
    /// completes its receiver).
    _stop: oneshot::Sender<()>,
}

/// How long start-up waits for the listener to listen the first time. An instance that
/// serves before it hears the others would miss what they announce meanwhile (presence
/// changes are not in the store to catch up from).
const FIRST_LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// The bus could not be started.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The listener's thread could not be started.
    #[error("cannot start the message bus's listener")]
    Thread(#[source] std::io::Error),
    /// The listener's runtime could not be built.
    #[error("cannot build the message bus's runtime")]
    Runtime(#[source] std::io::Error),
    /// The listener did not get to listen in time; its log lines say why.
    #[error("the message bus could not listen on PostgreSQL within {0:?}")]
    NotListening(Duration),
}

/// A background task could not be started: there is no tokio runtime to run it on.
#[derive(Debug, thiserror::Error)]
#[error("a background task needs a running tokio runtime")]
pub struct NoRuntime;

impl PgBus {
    /// A bus on `url`, sending through `database`'s pool, once its listener listens.
    /// The listener runs on a thread and runtime of its own, so that it keeps listening
    /// whatever the server's workers do, and so that this call can wait for it without
    /// holding up the runtime it is called from. It then reconnects on its own.
    ///
    /// # Errors
    /// [`BusError`] when the listener's runtime or thread cannot be started, or it does
    /// not listen within 10 s.
    pub fn start(url: &PostgresUrl, database: PgDatabase) -> Result<Self, BusError> {
        Self::start_within(url, database, FIRST_LISTEN_TIMEOUT)
    }

    /// [`PgBus::start`], waiting at most `first_listen_timeout` for the listener to
    /// listen (tests of a bus that cannot listen wait less than 10 s).
    fn start_within(
        url: &PostgresUrl,
        database: PgDatabase,
        first_listen_timeout: Duration,
    ) -> Result<Self, BusError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(BusError::Runtime)?;
        let (local, _) = broadcast::channel(DEFAULT_BUS_CAPACITY);
        let instance = Uuid::new_v4();
        let (stop, stopped) = oneshot::channel();
        let (listening_tx, listening) = watch::channel(0);
        let mut first_listen = listening.clone();
        // Told once, from the listener's runtime, when it first listens: this call
        // blocks on it (it runs outside any runtime's worker) instead of polling.
        let (listens, first_listened) = std::sync::mpsc::sync_channel(1);
        let (url, sender) = (url.as_libpq().to_owned(), local.clone());
        std::thread::Builder::new()
            .name("portico-bus".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let tell_first = async move {
                        if first_listen.wait_for(|count| *count > 0).await.is_ok() {
                            let _ = listens.send(());
                        }
                    };
                    tokio::select! {
                        () = listen(url, sender, instance, listening_tx, stopped) => {}
                        // Told, the listener goes on alone: only its end ends this.
                        () = async { tell_first.await; std::future::pending().await } => {}
                    }
                });
            })
            .map_err(BusError::Thread)?;
        // Dropping `stop` on the way out (an error) ends the listener.
        let bus = Self {
            inner: Arc::new(Inner {
                local,
                instance,
                database,
                listening,
                _stop: stop,
            }),
        };
        // A listener that ended before listening drops the sender: no wait then.
        first_listened
            .recv_timeout(first_listen_timeout)
            .map_err(|_| BusError::NotListening(first_listen_timeout))?;
        Ok(bus)
    }

    /// Waits until the listener has started listening `times` times in all (the first
    /// time, then once after each reconnection).
    #[cfg(test)]
    async fn listened(&self, times: u64) {
        let mut listening = self.inner.listening.clone();
        let _ = listening.wait_for(|count| *count >= times).await;
    }
}

#[async_trait]
impl MessageBus for PgBus {
    async fn publish(&self, event: RoomEvent) -> Result<(), AdapterError> {
        let payloads = encode(self.inner.instance, &event)?;
        // This instance's subscribers first, at once: `subscribe` then `publish` on one
        // instance must not wait for a round trip to be seen. No subscriber is no error.
        let _receivers = self.inner.local.send(Signal::Event(event));
        self.inner
            .database
            .run(move |connection| {
                use diesel::RunQueryDsl as _;
                for payload in payloads {
                    diesel::sql_query("SELECT pg_notify($1, $2)")
                        .bind::<diesel::sql_types::Text, _>(CHANNEL)
                        .bind::<diesel::sql_types::Text, _>(payload)
                        .execute(connection)?;
                }
                Ok(())
            })
            .await
            .map_err(|error| AdapterError::new("notifying the other instances failed", error))
    }

    fn subscribe(&self) -> Box<dyn BusSubscription> {
        Box::new(PgSubscription(self.inner.local.subscribe()))
    }
}

/// One subscriber's end of a [`PgBus`].
struct PgSubscription(broadcast::Receiver<Signal>);

#[async_trait]
impl BusSubscription for PgSubscription {
    async fn next(&mut self) -> Result<RoomEvent, SubscriptionError> {
        // `recv` is cancel-safe, as the port promises.
        match self.0.recv().await {
            Ok(Signal::Event(event)) => Ok(event),
            // How many were lost while no one listened is unknown: none is the only
            // lower bound. The subscriber catches up from the store all the same.
            Ok(Signal::Lost) => Err(SubscriptionError::Lagged { missed: 0 }),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                Err(SubscriptionError::Lagged { missed })
            }
            Err(broadcast::error::RecvError::Closed) => Err(SubscriptionError::Closed),
        }
    }
}

/// The listener: connects, listens, hands the other instances' events to this
/// instance's subscribers, and reconnects when the connection drops, until stopped.
async fn listen(
    url: String,
    local: broadcast::Sender<Signal>,
    instance: Uuid,
    listening: watch::Sender<u64>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut backoff = FIRST_BACKOFF;
    // Set once an attempt has failed or a connection has dropped: from then on, events
    // may have been notified while no one listened.
    let mut after_a_gap = false;
    loop {
        let listened = tokio::select! {
            _ = &mut stop => return,
            listened = listen_once(&url, &local, instance, &listening, after_a_gap) => listened,
        };
        if listened {
            backoff = FIRST_BACKOFF;
            tracing::warn!("the message bus lost its connection; reconnecting");
        }
        after_a_gap = true;
        tokio::select! {
            _ = &mut stop => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Connects and listens until the connection ends; whether it got to listen.
async fn listen_once(
    url: &str,
    local: &broadcast::Sender<Signal>,
    instance: Uuid,
    listening: &watch::Sender<u64>,
    after_a_gap: bool,
) -> bool {
    let (client, mut receiving) = match connect_and_listen(url, local, instance).await {
        Ok(listening) => listening,
        Err(error) => {
            tracing::warn!(error.cause_chain = ?error, "the message bus could not connect and listen");
            return false;
        }
    };
    if after_a_gap {
        // Whatever was notified while no one listened is lost: subscribers catch up
        // from the store, now that new events reach them again.
        let _ = local.send(Signal::Lost);
        tracing::info!("the message bus listens again");
    }
    listening.send_modify(|count| *count += 1);
    // Until the connection ends; the client must live as long, or it closes it.
    let _ = (&mut receiving.0).await;
    drop(client);
    true
}

/// A connection that listens on [`CHANNEL`], and the task receiving its notifications.
async fn connect_and_listen(
    url: &str,
    local: &broadcast::Sender<Signal>,
    instance: Uuid,
) -> Result<(tokio_postgres::Client, AbortOnDrop), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let receiving = AbortOnDrop(tokio::spawn(receive(connection, local.clone(), instance)));
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    Ok((client, receiving))
}

/// A task that is stopped when its handle is dropped (a `JoinHandle` alone lets it run).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Drives one listening connection until it ends, handing each notification from
/// another instance to the subscribers.
async fn receive(
    mut connection: tokio_postgres::Connection<
        tokio_postgres::Socket,
        tokio_postgres::tls::NoTlsStream,
    >,
    local: broadcast::Sender<Signal>,
    instance: Uuid,
) {
    // Until the connection ends: `None` once it closes.
    while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
        match message {
            Ok(tokio_postgres::AsyncMessage::Notification(notification)) => {
                match decode(notification.payload()) {
                    Ok((from, _)) if from == instance => {}
                    Ok((_, event)) => {
                        let _ = local.send(Signal::Event(event));
                    }
                    Err(error) => {
                        // From another version of Portico, or not Portico's: what it
                        // said is lost, so subscribers catch up from the store.
                        tracing::warn!(error.cause_chain = ?error, "an unreadable bus notification");
                        let _ = local.send(Signal::Lost);
                    }
                }
            }
            // A notice: the server's chatter, not an event.
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error.cause_chain = ?error, "the message bus connection failed");
                return;
            }
        }
    }
}

/// An event as a notification carries it: JSON, with the sending instance's id.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    instance: Uuid,
    event: WireEvent,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    Published {
        room: String,
        seq: u64,
    },
    MembershipChanged {
        user: Uuid,
        room: String,
        joined: bool,
    },
    PresenceChanged {
        user: Uuid,
        first_name: String,
        last_name: String,
        rooms: Vec<String>,
        present: bool,
    },
    SessionEnded {
        session: Uuid,
    },
}

/// A notification that is not a Portico event this version understands.
#[derive(Debug, thiserror::Error)]
enum WireError {
    #[error("the notification is not an event")]
    Json(#[from] serde_json::Error),
    #[error("the notification names an invalid {0}")]
    Invalid(&'static str),
}

/// `event` as the payloads of its notifications: one, or, for a presence change in
/// more rooms than one payload holds, one per part of its rooms (each part tells the
/// members of those rooms, so the parts together tell what the whole did).
fn encode(instance: Uuid, event: &RoomEvent) -> Result<Vec<String>, AdapterError> {
    let wire = match event {
        // The message itself stays in this process: a notification rings only.
        RoomEvent::Published { room, seq, .. } => WireEvent::Published {
            room: room.as_ref().to_owned(),
            seq: seq.get(),
        },
        RoomEvent::MembershipChanged { user, room, joined } => WireEvent::MembershipChanged {
            user: user.as_uuid(),
            room: room.as_ref().to_owned(),
            joined: *joined,
        },
        RoomEvent::PresenceChanged {
            user,
            rooms,
            present,
        } => return presence_parts(instance, user, rooms, *present),
        RoomEvent::SessionEnded { session } => WireEvent::SessionEnded {
            session: session.as_uuid(),
        },
    };
    Ok(vec![envelope(instance, wire)?])
}

/// A presence change as payloads of at most [`PAYLOAD_LIMIT`] bytes: as many rooms in
/// each as fit, in order, and one payload with no rooms for a user in none.
fn presence_parts(
    instance: Uuid,
    user: &Sender,
    rooms: &[RoomName],
    present: bool,
) -> Result<Vec<String>, AdapterError> {
    let part = |rooms: Vec<String>| {
        envelope(
            instance,
            WireEvent::PresenceChanged {
                user: user.id.as_uuid(),
                first_name: user.first_name.as_ref().to_owned(),
                last_name: user.last_name.as_ref().to_owned(),
                rooms,
                present,
            },
        )
    };
    let base = part(Vec::new())?.len();
    let mut payloads = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut size = base;
    for room in rooms {
        // A name, its quotes and a comma; room names need no escaping. One room always
        // fits in an empty part (the assertion beside `PAYLOAD_LIMIT`).
        let cost = room.as_ref().len() + 3;
        if size + cost > PAYLOAD_LIMIT {
            payloads.push(part(std::mem::take(&mut current))?);
            size = base;
        }
        size += cost;
        current.push(room.as_ref().to_owned());
    }
    payloads.push(part(current)?);
    Ok(payloads)
}

/// One notification's payload: `event`, tagged with the sending instance.
fn envelope(instance: Uuid, event: WireEvent) -> Result<String, AdapterError> {
    serde_json::to_string(&Envelope { instance, event })
        .map_err(|error| AdapterError::new("encoding a bus event failed", WireError::from(error)))
}

/// The sending instance and the event of a notification's payload, re-parsed through
/// the domain's constructors like anything read from the database.
fn decode(payload: &str) -> Result<(Uuid, RoomEvent), WireError> {
    let envelope: Envelope = serde_json::from_str(payload)?;
    let room = |raw: &str| RoomName::parse(raw).map_err(|_| WireError::Invalid("room"));
    let event = match envelope.event {
        WireEvent::Published { room: raw, seq } => RoomEvent::Published {
            room: room(&raw)?,
            seq: Seq::new(seq),
            message: None,
        },
        WireEvent::MembershipChanged {
            user,
            room: raw,
            joined,
        } => RoomEvent::MembershipChanged {
            user: UserId::from_uuid(user),
            room: room(&raw)?,
            joined,
        },
        WireEvent::PresenceChanged {
            user,
            first_name,
            last_name,
            rooms,
            present,
        } => RoomEvent::PresenceChanged {
            user: Sender {
                id: UserId::from_uuid(user),
                first_name: PersonName::parse(&first_name)
                    .map_err(|_| WireError::Invalid("first name"))?,
                last_name: PersonName::parse(&last_name)
                    .map_err(|_| WireError::Invalid("last name"))?,
            },
            rooms: rooms
                .iter()
                .map(|raw| room(raw))
                .collect::<Result<_, _>>()?,
            present,
        },
        WireEvent::SessionEnded { session } => RoomEvent::SessionEnded {
            session: SessionId::from_uuid(session),
        },
    };
    Ok((envelope.instance, event))
}

#[cfg(test)]
mod tests {
    use domain::ports::MessageBus as _;

    use super::*;
    use crate::postgres::test_database;

    fn published(seq: u64) -> RoomEvent {
        RoomEvent::Published {
            room: RoomName::parse("general").unwrap(),
            seq: Seq::new(seq),
            message: None,
        }
    }

    /// A bus on the test database, listening.
    async fn bus_on(test: &test_database::TestDatabase, url: &PostgresUrl) -> PgBus {
        let bus = PgBus::start(url, test.database.clone()).unwrap();
        bus.listened(1).await;
        bus
    }

    #[tokio::test]
    async fn honours_the_message_bus_contract() {
        let cluster = test_database::cluster_or_skip!("the message bus contract");
        let test = test_database::fresh(&cluster);
        let url = test.url();
        test_support::contracts::bus::run(|| {
            let bus = PgBus::start(&url, test.database.clone()).unwrap();
            async move { Box::new(bus) as Box<dyn MessageBus> }
        })
        .await;
    }

    #[tokio::test]
    async fn an_event_published_on_one_instance_reaches_the_others_once_in_order() {
        let cluster = test_database::cluster_or_skip!("the bus between instances case");
        let test = test_database::fresh(&cluster);
        let url = test.url();
        let (a, b) = (bus_on(&test, &url).await, bus_on(&test, &url).await);
        let (mut on_a, mut on_b) = (a.subscribe(), b.subscribe());

        for seq in 1..=3 {
            a.publish(published(seq)).await.unwrap();
        }
        for seq in 1..=3 {
            assert_eq!(on_b.next().await, Ok(published(seq)), "on B, in A's order");
        }
        b.publish(published(4)).await.unwrap();
        assert_eq!(on_b.next().await, Ok(published(4)), "B's own, at once");

        // A's own events come back through PostgreSQL too and are skipped: after its
        // three comes B's, not a second copy of its first.
        for seq in 1..=4 {
            assert_eq!(on_a.next().await, Ok(published(seq)), "on A");
        }
        let shown = format!("{a:?}");
        assert!(
            shown.starts_with("PgBus") && shown.contains("listens: 1"),
            "how many times it listened: {shown}"
        );
    }

    #[tokio::test]
    async fn a_notification_no_portico_sent_tells_subscribers_to_catch_up() {
        let cluster = test_database::cluster_or_skip!("the unreadable notification case");
        let test = test_database::fresh(&cluster);
        let url = test.url();
        let bus = bus_on(&test, &url).await;
        let mut subscription = bus.subscribe();

        // Another program, or another version of Portico, on the same channel.
        test.database
            .run(|connection| {
                use diesel::RunQueryDsl as _;
                diesel::sql_query(format!("NOTIFY {CHANNEL}, 'not an event'")).execute(connection)
            })
            .await
            .unwrap();

        assert_eq!(
            subscription.next().await,
            Err(SubscriptionError::Lagged { missed: 0 }),
            "what it said is lost: catch up from the store"
        );
        bus.publish(published(1)).await.unwrap();
        assert_eq!(
            subscription.next().await,
            Ok(published(1)),
            "and it goes on"
        );
    }

    #[tokio::test]
    async fn a_listener_on_a_chatty_connection_hears_events_between_the_notices() {
        let cluster = test_database::cluster_or_skip!("the chatty connection case");
        let test = test_database::fresh(&cluster);
        // The server sends the listener a notice for every step of every statement.
        let chatty = PostgresUrl::parse(&format!(
            "{}?options=-c%20client_min_messages%3Ddebug5",
            test.url().as_libpq()
        ))
        .unwrap();
        let (a, b) = (
            bus_on(&test, &test.url()).await,
            bus_on(&test, &chatty).await,
        );
        let mut on_b = b.subscribe();

        a.publish(published(1)).await.unwrap();

        assert_eq!(on_b.next().await, Ok(published(1)));
    }

    #[tokio::test]
    async fn a_publish_the_other_instances_cannot_be_told_of_is_an_error_but_this_one_has_it() {
        let cluster = test_database::cluster_or_skip!("the unreachable notify case");
        let test = test_database::fresh(&cluster);
        let url = test.url();
        // A pool of the bus's own that gives up on a connection at once.
        let database = PgDatabase::open_within(&url, 1, Duration::from_millis(50)).unwrap();
        let bus = PgBus::start(&url, database).unwrap();
        bus.listened(1).await;
        let mut here = bus.subscribe();
        test.refuse_connections();

        let outcome = bus.publish(published(1)).await;

        assert!(outcome.is_err(), "the other instances were not told");
        assert_eq!(here.next().await, Ok(published(1)), "this instance's were");
    }

    #[tokio::test]
    async fn a_bus_that_cannot_listen_is_refused_at_start() {
        let cluster = test_database::cluster_or_skip!("the unreachable listener case");
        let test = test_database::fresh(&cluster);
        // A port nothing listens on: the one a listener just gave back.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let nowhere =
            PostgresUrl::parse(&format!("postgres://postgres@127.0.0.1:{port}/portico")).unwrap();

        let started =
            PgBus::start_within(&nowhere, test.database.clone(), Duration::from_millis(50));

        let error = started.err();
        assert!(
            matches!(error, Some(BusError::NotListening(_))),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_listener_whose_connection_drops_reconnects_and_says_events_may_be_lost() {
        let cluster = test_database::cluster_or_skip!("the bus reconnection case");
        let test = test_database::fresh(&cluster);
        let url = test.url();
        let (a, b) = (bus_on(&test, &url).await, bus_on(&test, &url).await);
        let mut on_b = b.subscribe();

        // Every listening connection of the database is ended, as a restart would.
        test.database
            .run(|connection| {
                use diesel::RunQueryDsl as _;
                diesel::sql_query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND query LIKE 'LISTEN%'",
                )
                .execute(connection)
            })
            .await
            .unwrap();
        b.listened(2).await;
        a.listened(2).await;

        assert_eq!(
            on_b.next().await,
            Err(SubscriptionError::Lagged { missed: 0 }),
            "told to catch up from the store"
        );
        a.publish(published(7)).await.unwrap();
        assert_eq!(on_b.next().await, Ok(published(7)), "and events flow again");
    }

    #[test]
    fn every_event_reads_back_as_sent_and_a_large_presence_change_is_split() {
        let instance = Uuid::new_v4();
        let ada = Sender {
            id: UserId::from_uuid(Uuid::new_v4()),
            first_name: PersonName::parse("Ada").unwrap(),
            last_name: PersonName::parse("Lovelace").unwrap(),
        };
        let room = RoomName::parse("general").unwrap();
        for event in [
            published(1),
            RoomEvent::MembershipChanged {
                user: ada.id,
                room: room.clone(),
                joined: true,
            },
            RoomEvent::PresenceChanged {
                user: ada.clone(),
                rooms: vec![room.clone()],
                present: false,
            },
            RoomEvent::SessionEnded {
                session: SessionId::from_uuid(Uuid::new_v4()),
            },
        ] {
            let payloads = encode(instance, &event).unwrap();
            assert_eq!(payloads.len(), 1, "{event:?}");
            assert_eq!(decode(&payloads[0]).unwrap(), (instance, event));
        }

        let rooms: Vec<RoomName> = (0..1_000)
            .map(|n| RoomName::parse(&format!("room-{n:04}")).unwrap())
            .collect();
        let payloads = encode(
            instance,
            &RoomEvent::PresenceChanged {
                user: ada.clone(),
                rooms: rooms.clone(),
                present: true,
            },
        )
        .unwrap();
        assert!(payloads.len() > 1, "split");
        let mut told = Vec::new();
        for payload in &payloads {
            assert!(payload.len() < 8_000, "PostgreSQL's limit");
            let (_, part) = decode(payload).unwrap();
            // Each part is Ada's presence change for some of the rooms: the part again
            // with all of them.
            let json: serde_json::Value = serde_json::from_str(payload).unwrap();
            let part_rooms: Vec<RoomName> =
                serde_json::from_value::<Vec<String>>(json["event"]["rooms"].clone())
                    .unwrap()
                    .iter()
                    .map(|name| RoomName::parse(name).unwrap())
                    .collect();
            assert_eq!(
                part,
                RoomEvent::PresenceChanged {
                    user: ada.clone(),
                    rooms: part_rooms.clone(),
                    present: true,
                }
            );
            told.extend(part_rooms);
        }
        assert_eq!(told, rooms, "every room once, in order");

        for unreadable in ["", "{}", r#"{"instance":"x","event":{"type":"published"}}"#] {
            assert!(decode(unreadable).is_err(), "sent {unreadable:?}");
        }
        let bad_room = serde_json::json!({
            "instance": instance,
            "event": {"type": "published", "room": "Not A Name", "seq": 1}
        });
        assert!(matches!(
            decode(&bad_room.to_string()),
            Err(WireError::Invalid("room"))
        ));
    }
}
