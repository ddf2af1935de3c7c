//! Seats N members in one room over WebSocket and measures what it costs: how long until
//! every member has joined, and how many frames the members received in all. A naive
//! presence (announce every join to every member) makes seating n members O(n²) frames;
//! Portico announces presence only when a user's first connection opens, to the members
//! of rooms they already share, so seating stays O(n).
//!
//! ```sh
//! RATE_LIMIT_ENABLED=false BCRYPT_COST=4 cargo run --release &
//! cargo run --release --example seat -- --url http://127.0.0.1:8080 --members 1000
//! ```

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut url = "http://127.0.0.1:8080".to_owned();
    let mut members = 1000_usize;
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--url" => url = value,
            "--members" => members = value.parse().expect("--members N"),
            other => panic!("unknown option {other}"),
        }
    }
    let client = reqwest::Client::new();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let room = format!("seat-{}", &run[..8]);

    // Accounts and tokens first: what is measured is the room, not bcrypt.
    let started = Instant::now();
    let mut tokens = Vec::with_capacity(members);
    for n in 0..members {
        let email = format!("m{n}-{run}@example.com");
        let credentials = json!({"email": email, "password": "correct horse battery"});
        client
            .post(format!("{url}/register"))
            .json(&credentials)
            .send()
            .await
            .unwrap();
        let login: Value = client
            .post(format!("{url}/login"))
            .json(&credentials)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(login["access_token"].as_str().unwrap().to_owned());
    }
    println!("{members} accounts ready in {:?}", started.elapsed());

    let ws = url.replacen("http", "ws", 1);
    let seating = Instant::now();
    let mut sockets = Vec::with_capacity(members);
    let mut frames = 0_u64;
    for token in &tokens {
        let (mut socket, _) =
            tokio_tungstenite::connect_async(format!("{ws}/ws?access_token={token}"))
                .await
                .unwrap();
        socket
            .send(Message::text(
                json!({"type": "join", "room": room}).to_string(),
            ))
            .await
            .unwrap();
        // Read until this member's `joined`: what the others receive meanwhile is
        // counted when they are drained below.
        loop {
            let frame = socket.next().await.unwrap().unwrap();
            if let Message::Text(text) = frame {
                frames += 1;
                if text.contains("\"joined\"") {
                    break;
                }
            }
        }
        sockets.push(socket);
    }
    let seated = seating.elapsed();
    // Whatever else was sent to the seated members while the others joined.
    let mut pending = 0_u64;
    for socket in &mut sockets {
        while let Ok(Some(Ok(Message::Text(_)))) =
            tokio::time::timeout(Duration::from_millis(5), socket.next()).await
        {
            pending += 1;
        }
    }
    println!(
        "seated {members} members in {seated:?} ({:.0} joins/s); frames received: {} \
         ({:.2} per member)",
        members as f64 / seated.as_secs_f64(),
        frames + pending,
        (frames + pending) as f64 / members as f64
    );
}
