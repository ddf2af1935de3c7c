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
    /// [`BusError`] when the listener cannot be started or does not listen within 10 s.
    pub fn start(url: &PostgresUrl, database: PgDatabase) -> Result<Self, BusError> {
        let (local, _) = broadcast::channel(DEFAULT_BUS_CAPACITY);
        let instance = Uuid::new_v4();
        let (stop, stopped) = oneshot::channel();
        let (listening_tx, listening) = watch::channel(0);
        let mut first_listen = listening.clone();
        let (url, sender) = (url.as_libpq().to_owned(), local.clone());
        std::thread::Builder::new()
            .name("portico-bus".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => {
                        runtime.block_on(listen(url, sender, instance, listening_tx, stopped));
                    }
                    Err(error) => {
                        tracing::error!(error.cause_chain = ?error, "the message bus has no runtime");
                    }
                }
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
        let deadline = std::time::Instant::now() + FIRST_LISTEN_TIMEOUT;
        while *first_listen.borrow_and_update() == 0 {
            if std::time::Instant::now() >= deadline || first_listen.has_changed().is_err() {
                return Err(BusError::NotListening(FIRST_LISTEN_TIMEOUT));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
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
    let (client, connection) = match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
        Ok(connected) => connected,
        Err(error) => {
            tracing::warn!(error.cause_chain = ?error, "the message bus could not connect");
            return false;
        }
    };
    let mut receiving = AbortOnDrop(tokio::spawn(receive(connection, local.clone(), instance)));
    if let Err(error) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
        tracing::warn!(error.cause_chain = ?error, "the message bus could not listen");
        return false;
    }
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
    loop {
        let message = std::future::poll_fn(|cx| connection.poll_message(cx)).await;
        match message {
            Some(Ok(tokio_postgres::AsyncMessage::Notification(notification))) => {
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
            Some(Ok(_)) => {}
            Some(Err(error)) => {
                tracing::warn!(error.cause_chain = ?error, "the message bus connection failed");
                return;
            }
            None => return,
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
    #[error("one room's name alone exceeds a notification's payload")]
    TooLarge,
}

/// `event` as the payloads of its notifications: one, or, for a presence change in
/// more rooms than one payload holds, one per part of its rooms (each part tells the
/// members of those rooms, so the parts together tell what the whole did).
fn encode(instance: Uuid, event: &RoomEvent) -> Result<Vec<String>, AdapterError> {
    let failed = |error: WireError| AdapterError::new("encoding a bus event failed", error);
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
        } => WireEvent::PresenceChanged {
            user: user.id.as_uuid(),
            first_name: user.first_name.as_ref().to_owned(),
            last_name: user.last_name.as_ref().to_owned(),
            rooms: rooms.iter().map(|room| room.as_ref().to_owned()).collect(),
            present: *present,
        },
        RoomEvent::SessionEnded { session } => WireEvent::SessionEnded {
            session: session.as_uuid(),
        },
    };
    let json = |event: WireEvent| {
        serde_json::to_string(&Envelope { instance, event }).map_err(|e| failed(e.into()))
    };
    let whole = json(wire.clone())?;
    if whole.len() <= PAYLOAD_LIMIT {
        return Ok(vec![whole]);
    }
    let WireEvent::PresenceChanged {
        user,
        first_name,
        last_name,
        rooms,
        present,
    } = wire
    else {
        return Err(failed(WireError::TooLarge));
    };
    let part = |rooms: Vec<String>| {
        json(WireEvent::PresenceChanged {
            user,
            first_name: first_name.clone(),
            last_name: last_name.clone(),
            rooms,
            present,
        })
    };
    let base = part(Vec::new())?.len();
    let mut payloads = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut size = base;
    for room in rooms {
        // A name, its quotes and a comma; room names need no escaping.
        let cost = room.len() + 3;
        if base + cost > PAYLOAD_LIMIT {
            return Err(failed(WireError::TooLarge));
        }
        if size + cost > PAYLOAD_LIMIT {
            payloads.push(part(std::mem::take(&mut current))?);
            size = base;
        }
        size += cost;
        current.push(room);
    }
    if !current.is_empty() {
        payloads.push(part(current)?);
    }
    Ok(payloads)
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
        let Some(cluster) = test_database::cluster("the message bus contract") else {
            return;
        };
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
        let Some(cluster) = test_database::cluster("the bus between instances case") else {
            return;
        };
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
    }

    #[tokio::test]
    async fn a_listener_whose_connection_drops_reconnects_and_says_events_may_be_lost() {
        let Some(cluster) = test_database::cluster("the bus reconnection case") else {
            return;
        };
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
            let (
                _,
                RoomEvent::PresenceChanged {
                    user,
                    rooms,
                    present,
                },
            ) = decode(payload).unwrap()
            else {
                panic!("a presence change");
            };
            assert_eq!((user.id, present), (ada.id, true));
            told.extend(rooms);
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
