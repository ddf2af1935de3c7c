//! The rooms load driver of issue 19: drives a running Portico over loopback WebSockets
//! and prints one table. Every phase is bounded in time.
//!
//! 1. **Seat**: registers and logs in `--members` users (plus one publisher), then opens
//!    one WebSocket per member, sends `join` for one room and waits for that member's
//!    `joined`, `--seat-concurrency` at a time; the publisher joins last and asks
//!    `presence`, whose answer must list every member. The time from the first connect
//!    to that answer is the time to seat the room.
//! 2. **Fan-out**, once per `--rates` entry: the publisher publishes R messages a second
//!    for `--seconds`, each body carrying its send time; every member connection checks
//!    that `seq` arrives gap-free and in order and records publish→deliver latency. After
//!    the last ack the driver waits (at most `--drain-seconds`) for every member to reach
//!    the last `seq`; what is missing then is lost. With `--server-pid` it reads the
//!    server's CPU time (utime + stime, `/proc/PID/stat`) before the first publish and
//!    after the drain: CPU µs per delivered message. The driver's own CPU is printed the
//!    same way, since on a small machine it shares the cores with the server.
//! 3. **Idle**: opens `--idle` more connections (users with no room, `--idle-users` of
//!    them, round-robin) and reports the server's RSS growth ÷ connections. The driver
//!    raises its own open-file limit to the hard limit first (`rlimit`) and says so; if a
//!    connection fails, it reports the count reached and the error.
//!
//! ```sh
//! RATE_LIMIT_ENABLED=false BCRYPT_COST=4 HTTP_MAX_CONNECTIONS=20000 \
//!     HTTP_MAX_CONNECTIONS_PER_IP=20000 cargo run --release &
//! cargo run --release --example rooms -- --url http://127.0.0.1:8080 --server-pid $!
//! ```
//! `benchmarks/rooms.sh` (`make bench-rooms`) does all of that on a fresh database.
//!
//! `--protocol socketio` drives `benchmarks/socketio/server.js` (a Socket.IO 4.8 server
//! that only broadcasts) with the same shape: Engine.IO's WebSocket transport, the same
//! frames wrapped as `42["frame",{…}]`, no accounts.

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The server's protocol: Portico's, or the same frames over Socket.IO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Portico,
    SocketIo,
}

static PROTOCOL: OnceLock<Protocol> = OnceLock::new();

fn protocol() -> Protocol {
    *PROTOCOL.get().unwrap_or(&Protocol::Portico)
}

/// A client frame as a WebSocket message.
fn encode(frame: &Value) -> Message {
    match protocol() {
        Protocol::Portico => Message::text(frame.to_string()),
        // Socket.IO: an EVENT packet (4 = message, 2 = event) named "frame".
        Protocol::SocketIo => Message::text(format!("42[\"frame\",{frame}]")),
    }
}

/// Engine.IO's heartbeat: the server sends PING ("2"), the client answers PONG ("3").
fn is_engine_ping(text: &str) -> bool {
    protocol() == Protocol::SocketIo && text == "2"
}

/// A server frame, if `text` is one.
fn decode(text: &str) -> Option<Incoming<'_>> {
    match protocol() {
        Protocol::Portico => serde_json::from_str(text).ok(),
        Protocol::SocketIo => {
            let (_, frame): (&str, Incoming<'_>) =
                serde_json::from_str(text.strip_prefix("42")?).ok()?;
            Some(frame)
        }
    }
}

#[derive(Debug)]
struct Options {
    url: String,
    members: usize,
    rates: Vec<u32>,
    seconds: u64,
    drain_seconds: u64,
    idle: usize,
    idle_users: usize,
    seat_concurrency: usize,
    server_pid: Option<u32>,
    protocol: Protocol,
}

fn options() -> Options {
    let mut options = Options {
        url: "http://127.0.0.1:8080".into(),
        members: 1000,
        rates: vec![30, 100],
        seconds: 10,
        drain_seconds: 10,
        idle: 10_000,
        idle_users: 100,
        seat_concurrency: 1,
        server_pid: None,
        protocol: Protocol::Portico,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--url" => options.url = value,
            "--members" => options.members = value.parse().expect("--members N"),
            "--rates" => {
                options.rates = value
                    .split(',')
                    .filter(|rate| !rate.is_empty())
                    .map(|rate| rate.parse().expect("--rates R1,R2,…"))
                    .collect();
            }
            "--seconds" => options.seconds = value.parse().expect("--seconds N"),
            "--drain-seconds" => options.drain_seconds = value.parse().expect("--drain-seconds N"),
            "--idle" => options.idle = value.parse().expect("--idle N"),
            "--idle-users" => options.idle_users = value.parse().expect("--idle-users N"),
            "--seat-concurrency" => {
                options.seat_concurrency = value.parse().expect("--seat-concurrency N");
            }
            "--protocol" => {
                options.protocol = match value.as_str() {
                    "portico" => Protocol::Portico,
                    "socketio" => Protocol::SocketIo,
                    other => panic!("--protocol portico|socketio, not {other}"),
                }
            }
            "--server-pid" => options.server_pid = Some(value.parse().expect("--server-pid PID")),
            other => panic!("unknown option {other}"),
        }
    }
    assert!(options.members > 0, "--members must be positive");
    assert!(
        options.seat_concurrency > 0,
        "--seat-concurrency must be positive"
    );
    options
}

/// The fields of a server frame the driver looks at; the rest is skipped.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    seq: Option<u64>,
    last_seq: Option<u64>,
    #[serde(borrow)]
    body: Option<&'a str>,
    users: Option<Vec<serde::de::IgnoredAny>>,
}

/// CPU seconds (utime + stime) and resident memory of a process, from `/proc`.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the ")" that ends the command name; utime and stime are the
    // 12th and 13th of those.
    let rest = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // CLK_TCK is 100 on every Linux this runs on.
    Some(ticks / 100.0)
}

fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

fn small_buffers() -> WebSocketConfig {
    // The driver holds thousands of sockets: tungstenite's 128 KiB read buffer each
    // would make the driver, not the server, the memory being measured.
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
}

async fn connect(ws: &str, token: &str) -> Result<Socket, String> {
    let url = match protocol() {
        Protocol::Portico => format!("{ws}/ws?access_token={token}"),
        Protocol::SocketIo => format!("{ws}/socket.io/?EIO=4&transport=websocket"),
    };
    let mut socket = tokio_tungstenite::connect_async_with_config(url, Some(small_buffers()), true)
        .await
        .map(|(socket, _)| socket)
        .map_err(|error| error.to_string())?;
    if protocol() == Protocol::SocketIo {
        // Engine.IO's OPEN ("0{…}"), then CONNECT to the main namespace ("40") and its
        // answer ("40{…}").
        socket
            .send(Message::text("40"))
            .await
            .map_err(|error| error.to_string())?;
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) if text.starts_with("40") => break,
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.to_string()),
                None => return Err("closed during the Socket.IO handshake".into()),
            }
        }
    }
    Ok(socket)
}

/// Registers and logs in `count` users, a few at a time; returns their access tokens.
async fn accounts(client: &reqwest::Client, url: &str, tag: &str, count: usize) -> Vec<String> {
    if protocol() == Protocol::SocketIo {
        return vec![String::new(); count];
    }
    futures_util::stream::iter(0..count)
        .map(|n| {
            let client = client.clone();
            let credentials = json!({
                "email": format!("{tag}{n}@example.com"),
                "password": "correct horse battery",
            });
            async move {
                let registered = client
                    .post(format!("{url}/register"))
                    .json(&credentials)
                    .send()
                    .await
                    .expect("register");
                assert_eq!(registered.status(), 201, "registration failed");
                let login: Value = client
                    .post(format!("{url}/login"))
                    .json(&credentials)
                    .send()
                    .await
                    .expect("login")
                    .json()
                    .await
                    .expect("login body");
                login["access_token"]
                    .as_str()
                    .expect("access_token")
                    .to_owned()
            }
        })
        .buffered(8)
        .collect()
        .await
}

/// Connects, joins `room`, reads until `joined`; returns the socket and the room's
/// `last_seq` at that moment.
async fn seat(ws: &str, token: &str, room: &str) -> (Socket, u64) {
    let mut socket = connect(ws, token).await.expect("member connect");
    socket
        .send(encode(&json!({"type": "join", "room": room})))
        .await
        .expect("send join");
    loop {
        let frame = socket
            .next()
            .await
            .expect("socket closed before joined")
            .expect("read");
        if let Message::Text(text) = frame
            && let Some(incoming) = decode(&text)
            && incoming.kind == "joined"
        {
            return (socket, incoming.last_seq.expect("last_seq"));
        }
    }
}

/// What one member connection saw during one fan-out phase.
#[derive(Default)]
struct Seen {
    deliveries: u64,
    /// Frames whose `seq` was not the next one expected (a gap, a duplicate or a step
    /// back): zero in a correct run.
    out_of_order: u64,
    latencies_us: Vec<u32>,
    /// The server closed the connection (or it failed): what it had not received by
    /// then is counted as lost.
    closed: bool,
}

/// One member connection: reads every frame, checks `seq` order, keeps latencies.
/// `reached` is the highest `seq` received in order; `collect` hands over (and resets)
/// what was seen.
fn member(
    mut socket: Socket,
    joined_at: u64,
    epoch: Instant,
    reached: Arc<AtomicU64>,
) -> mpsc::Sender<oneshot::Sender<Seen>> {
    let (collect, mut requests) = mpsc::channel::<oneshot::Sender<Seen>>(1);
    reached.store(joined_at, Ordering::Relaxed);
    tokio::spawn(async move {
        let mut expected = joined_at + 1;
        let mut seen = Seen::default();
        let mut open = true;
        loop {
            tokio::select! {
                frame = socket.next(), if open => {
                    let Some(Ok(frame)) = frame else {
                        // Keep answering `collect`: the phase reports this member.
                        open = false;
                        continue;
                    };
                    let Message::Text(text) = frame else { continue };
                    if is_engine_ping(&text) {
                        let _ = socket.send(Message::text("3")).await;
                        continue;
                    }
                    let Some(incoming) = decode(&text) else { continue };
                    if incoming.kind != "message" {
                        continue;
                    }
                    let now = epoch.elapsed().as_micros() as u64;
                    let seq = incoming.seq.unwrap_or_default();
                    if seq == expected {
                        expected += 1;
                        reached.store(seq, Ordering::Relaxed);
                    } else {
                        seen.out_of_order += 1;
                    }
                    seen.deliveries += 1;
                    if let Some(sent) = incoming.body.and_then(|body| body.parse::<u64>().ok()) {
                        seen.latencies_us
                            .push(u32::try_from(now.saturating_sub(sent)).unwrap_or(u32::MAX));
                    }
                }
                request = requests.recv() => {
                    let Some(reply) = request else { break };
                    seen.closed = !open;
                    let _ = reply.send(std::mem::take(&mut seen));
                }
            }
        }
    });
    collect
}

struct Publisher {
    sink: Arc<tokio::sync::Mutex<SplitSink<Socket, Message>>>,
    acked: Arc<AtomicU64>,
    last_ack_seq: Arc<AtomicU64>,
}

fn publisher(socket: Socket) -> Publisher {
    let (sink, mut stream): (_, SplitStream<Socket>) = socket.split();
    let sink = Arc::new(tokio::sync::Mutex::new(sink));
    let pongs = sink.clone();
    let acked = Arc::new(AtomicU64::new(0));
    let last_ack_seq = Arc::new(AtomicU64::new(0));
    let (count, last) = (acked.clone(), last_ack_seq.clone());
    tokio::spawn(async move {
        while let Some(Ok(frame)) = stream.next().await {
            let Message::Text(text) = frame else { continue };
            if is_engine_ping(&text) {
                let _ = pongs.lock().await.send(Message::text("3")).await;
                continue;
            }
            let Some(incoming) = decode(&text) else {
                continue;
            };
            match incoming.kind {
                "ack" => {
                    count.fetch_add(1, Ordering::Relaxed);
                    last.fetch_max(incoming.seq.unwrap_or_default(), Ordering::Relaxed);
                }
                "error" => println!("publisher got an error frame: {text}"),
                _ => {}
            }
        }
    });
    Publisher {
        sink,
        acked,
        last_ack_seq,
    }
}

fn percentile(sorted: &[u32], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    f64::from(sorted[rank]) / 1000.0
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// One fan-out phase at `rate` publishes/s; prints its row.
#[allow(clippy::too_many_arguments)]
async fn fan_out(
    options: &Options,
    rate: u32,
    room: &str,
    epoch: Instant,
    publisher: &mut Publisher,
    members: &[(mpsc::Sender<oneshot::Sender<Seen>>, Arc<AtomicU64>)],
    server: Option<&str>,
) {
    let load = load_average();
    let acked_before = publisher.acked.load(Ordering::Relaxed);
    let server_cpu = server.and_then(cpu_seconds);
    let driver_cpu = cpu_seconds("self");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.seconds);
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    let mut sent = 0_u64;
    while Instant::now() < deadline {
        ticks.tick().await;
        let at = epoch.elapsed().as_micros() as u64;
        let frame = json!({"type": "publish", "room": room, "body": at.to_string()});
        publisher
            .sink
            .lock()
            .await
            .send(encode(&frame))
            .await
            .expect("publish");
        sent += 1;
    }
    let publishing = started.elapsed();
    // Every publish acked, then every member at the last acked seq, or the drain's end.
    let drain_deadline = Instant::now() + Duration::from_secs(options.drain_seconds);
    while publisher.acked.load(Ordering::Relaxed) - acked_before < sent
        && Instant::now() < drain_deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let target = publisher.last_ack_seq.load(Ordering::Relaxed);
    while members
        .iter()
        .any(|(_, reached)| reached.load(Ordering::Relaxed) < target)
        && Instant::now() < drain_deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let server_cpu = server
        .and_then(cpu_seconds)
        .zip(server_cpu)
        .map(|(after, before)| after - before);
    let driver_cpu = cpu_seconds("self")
        .zip(driver_cpu)
        .map(|(after, before)| after - before);
    let rss = server.and_then(rss_kib);

    let acked = publisher.acked.load(Ordering::Relaxed) - acked_before;
    let mut deliveries = 0_u64;
    let mut out_of_order = 0_u64;
    let mut short = 0_u64;
    let mut closed = 0_u64;
    let mut latencies = Vec::new();
    for (collect, reached) in members {
        let (reply, answer) = oneshot::channel();
        collect.send(reply).await.expect("member task alive");
        let seen = answer.await.expect("member answer");
        deliveries += seen.deliveries;
        out_of_order += seen.out_of_order;
        closed += u64::from(seen.closed);
        short += target.saturating_sub(reached.load(Ordering::Relaxed));
        latencies.extend(seen.latencies_us);
    }
    latencies.sort_unstable();
    let expected = acked * members.len() as u64;
    let lost = expected.saturating_sub(deliveries).max(short);
    let per_delivery = |cpu: Option<f64>| {
        cpu.map_or("n/a".to_owned(), |cpu| {
            format!("{:.2}", cpu * 1e6 / deliveries.max(1) as f64)
        })
    };
    println!(
        "| fan-out {rate}/s × {}s, {} members | {sent} published, {acked} acked in {:.1} s | \
         {deliveries} delivered ({:.0}/s); lost {lost}, out of order {out_of_order}, \
         connections closed {closed} | \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms | server {} µs CPU/delivery ({:.2} s), \
         driver {} | server RSS {} MiB | {load} |",
        options.seconds,
        members.len(),
        publishing.as_secs_f64(),
        deliveries as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
        per_delivery(server_cpu),
        server_cpu.unwrap_or(f64::NAN),
        per_delivery(driver_cpu),
        rss.map_or("n/a".to_owned(), |kib| format!(
            "{:.1}",
            kib as f64 / 1024.0
        )),
    );
}

/// Opens `count` idle authenticated connections; prints the server's RSS growth each.
async fn idle(options: &Options, client: &reqwest::Client, ws: &str, server: Option<&str>) {
    let load = load_average();
    let tokens = accounts(client, &options.url, "idle-", options.idle_users.max(1)).await;
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.and_then(rss_kib);
    let started = Instant::now();
    let mut opened = 0_usize;
    let mut failure = None;
    let mut pending = futures_util::stream::iter(0..options.idle)
        .map(|n| {
            let token = tokens[n % tokens.len()].clone();
            async move { connect(ws, &token).await }
        })
        .buffer_unordered(32);
    while let Some(result) = pending.next().await {
        match result {
            Ok(mut socket) => {
                opened += 1;
                let mut stop = stop.subscribe();
                // Reads (and so answers the server's pings) until told to stop.
                tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            frame = socket.next() => match frame {
                                Some(Ok(Message::Text(text))) if is_engine_ping(&text) => {
                                    let _ = socket.send(Message::text("3")).await;
                                }
                                Some(Ok(_)) => {}
                                _ => break,
                            },
                            _ = stop.recv() => break,
                        }
                    }
                });
            }
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    drop(pending);
    let opening = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.and_then(rss_kib);
    let growth = before.zip(after).map(|(before, after)| {
        format!(
            "{:.1} → {:.1} MiB: **{:.2} KiB per connection**",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            after.saturating_sub(before) as f64 / opened.max(1) as f64
        )
    });
    println!(
        "| idle connections | {opened} of {} open in {:.1} s ({} users){} | | | | server RSS {} | {load} |",
        options.idle,
        opening.as_secs_f64(),
        tokens.len(),
        failure.map_or(String::new(), |error| format!("; stopped at: {error}")),
        growth.unwrap_or_else(|| "n/a".into()),
    );
    let _ = stop.send(());
}

#[tokio::main]
async fn main() {
    let options = options();
    PROTOCOL.set(options.protocol).expect("protocol set once");
    // Thousands of sockets: raise the driver's own open-file limit to its hard limit.
    let hard = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(0, |(_, hard)| hard);
    let files = rlimit::increase_nofile_limit(hard).expect("raise the open-file limit");
    println!("driver open-file limit raised to {files} (hard limit {hard})");
    let server = options.server_pid.map(|pid| pid.to_string());
    let server = server.as_deref();
    let client = reqwest::Client::new();
    let ws = options.url.replacen("http", "ws", 1);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let run = &run[..8];
    let room = format!("bench-{run}");

    let started = Instant::now();
    let mut tokens = accounts(
        &client,
        &options.url,
        &format!("m-{run}-"),
        options.members + 1,
    )
    .await;
    let publisher_token = tokens.pop().expect("publisher token");
    println!(
        "{} accounts registered and logged in in {:.1} s (not measured below)",
        options.members + 1,
        started.elapsed().as_secs_f64()
    );
    println!();
    println!("| scenario | what was done | delivery | latency | CPU | memory | load average |");
    println!("|---|---|---|---|---|---|---|");

    // 1. Seat the room.
    let load = load_average();
    let seating = Instant::now();
    let seated: Vec<(Socket, u64)> = futures_util::stream::iter(tokens.iter())
        .map(|token| seat(&ws, token, &room))
        .buffered(options.seat_concurrency)
        .collect()
        .await;
    let joined = seating.elapsed();
    let (mut socket, _) = seat(&ws, &publisher_token, &room).await;
    socket
        .send(encode(&json!({"type": "presence", "room": room})))
        .await
        .expect("send presence");
    let present = loop {
        let frame = socket.next().await.expect("presence answer").expect("read");
        if let Message::Text(text) = frame
            && let Some(incoming) = decode(&text)
            && incoming.kind == "presence"
        {
            break incoming.users.map_or(0, |users| users.len());
        }
    };
    let seat_time = seating.elapsed();
    assert_eq!(
        present,
        options.members + 1,
        "presence must list every member"
    );
    println!(
        "| seat {} members, {} at a time | all joined in {:.3} s; presence listed {present} at {:.3} s | | | | server RSS {} | {load} |",
        options.members,
        options.seat_concurrency,
        joined.as_secs_f64(),
        seat_time.as_secs_f64(),
        server
            .and_then(rss_kib)
            .map_or("n/a".to_owned(), |kib| format!(
                "{:.1} MiB",
                kib as f64 / 1024.0
            )),
    );

    // 2. Fan-out at each rate.
    let epoch = Instant::now();
    let members: Vec<_> = seated
        .into_iter()
        .map(|(socket, last_seq)| {
            let reached = Arc::new(AtomicU64::new(0));
            (member(socket, last_seq, epoch, reached.clone()), reached)
        })
        .collect();
    let mut publisher = publisher(socket);
    for &rate in &options.rates {
        fan_out(
            &options,
            rate,
            &room,
            epoch,
            &mut publisher,
            &members,
            server,
        )
        .await;
    }

    // 3. Idle connections (the room's members stay connected).
    if options.idle > 0 {
        idle(&options, &client, &ws, server).await;
    }
}
