//! Sessions a user can see and end (issue 15, SPEC §3 and §4): `GET /sessions`,
//! `DELETE /sessions/{id}`, `DELETE /sessions`, and every way a session ends stopping
//! its access tokens and closing its sockets with 1008 at once, over real HTTP and
//! WebSocket.
//!
//! A socket that must stay open is shown to have heard the end of another session
//! before it answers: the bus hands each connection its events in order, so a message
//! published after the end reaches it only once the end was dealt with.

use chrono::Duration;
use serde_json::Value;

use crate::helpers::{PASSWORD, Registered, Socket, TestApp, assert_problem, challenge, spawn_app};

/// The close code of a socket whose session ended (SPEC §5).
const POLICY: u16 = 1008;

/// The room the stories' sockets follow.
const ROOM: &str = "lobby";

/// Opens a socket with `access_token` following [`ROOM`].
async fn socket_in_the_room(app: &TestApp, access_token: &str) -> Socket {
    let mut socket = app.connect(access_token).await;
    socket.join(ROOM).await;
    socket
}

/// Publishes a message in [`ROOM`] and waits until `socket` receives it: everything the
/// bus said before it (an ended session) has been dealt with by then, and the socket
/// is still open.
async fn still_open_after_the_bus_spoke(app: &TestApp, access_token: &str, socket: &mut Socket) {
    let sent = app.say(access_token, ROOM, "are you still there?").await;
    let received = socket.next_of("message").await;
    assert_eq!(
        received["seq"], sent["seq"],
        "the socket got the later message"
    );
}

/// `GET /users/me` with `access_token` is refused because its session ended.
async fn assert_refused_as_ended(app: &TestApp, access_token: &str, what: &str) {
    let response = app.me(access_token).await;
    let challenge = challenge(&response);
    assert_problem(response, 401, "invalid_token").await;
    assert!(
        challenge.contains("session has ended"),
        "{what}: challenge {challenge:?}"
    );
}

/// Ada, registered, logged in from a laptop and a phone, a second apart (so that the
/// phone's session is the more recently used).
async fn ada_on_two_devices(
    app: &TestApp,
) -> (Registered, crate::helpers::Tokens, crate::helpers::Tokens) {
    let ada = app.register_user().await;
    let laptop = app.login_from(&ada, "Laptop/1.0 (X11; Linux)").await;
    app.clock.advance(Duration::seconds(1));
    let phone = app.login_from(&ada, "Phone/2.0 (iOS)").await;
    (ada, laptop, phone)
}

#[tokio::test]
async fn a_logout_closes_that_devices_socket_with_1008_at_once_and_leaves_the_others_open() {
    let app = spawn_app().await;
    let (_, laptop, phone) = ada_on_two_devices(&app).await;
    let mut laptop_socket = socket_in_the_room(&app, &laptop.access).await;
    let mut phone_socket = socket_in_the_room(&app, &phone.access).await;

    assert_eq!(app.logout(&laptop.refresh).await.status(), 204);

    assert_eq!(laptop_socket.closed().await, POLICY, "the laptop's socket");
    still_open_after_the_bus_spoke(&app, &phone.access, &mut phone_socket).await;
    assert_refused_as_ended(&app, &laptop.access, "the laptop's access token").await;
    assert_eq!(
        app.me(&phone.access).await.status(),
        200,
        "the phone's token"
    );
}

#[tokio::test]
async fn the_list_shows_live_sessions_most_recently_used_first_with_current_and_user_agent() {
    let app = spawn_app().await;
    let (ada, laptop, phone) = ada_on_two_devices(&app).await;
    let ended = app.login_from(&ada, "Tablet/3.0").await;
    assert_eq!(app.logout(&ended.refresh).await.status(), 204);

    let listed = app.listed_sessions(&laptop.access).await;

    let agents: Vec<&Value> = listed
        .iter()
        .map(|session| &session["user_agent"])
        .collect();
    assert_eq!(
        agents,
        ["Phone/2.0 (iOS)", "Laptop/1.0 (X11; Linux)"],
        "newest first, the ended one gone"
    );
    let current: Vec<&Value> = listed.iter().map(|session| &session["current"]).collect();
    assert_eq!(current, [false, true], "the laptop asked");
    for session in &listed {
        let mut fields: Vec<&str> = session
            .as_object()
            .expect("a session is an object")
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "created_at",
                "current",
                "expires_at",
                "id",
                "last_used_at",
                "user_agent"
            ],
            "nothing of the tokens is listed: {session}"
        );
    }
    assert!(
        !listed.iter().any(|session| {
            let text = session.to_string();
            text.contains(&laptop.refresh) || text.contains(&phone.refresh)
        }),
        "no refresh token material"
    );

    // A refresh moves the laptop's session to the front; its start stays.
    app.clock.advance(Duration::seconds(1));
    let refreshed = app.refresh(&laptop.refresh).await;
    assert_eq!(refreshed.status(), 200);
    let after = app.listed_sessions(&phone.access).await;
    assert_eq!(after[0]["user_agent"], "Laptop/1.0 (X11; Linux)");
    assert_eq!(after[0]["created_at"], listed[1]["created_at"]);
    assert_ne!(after[0]["last_used_at"], listed[1]["last_used_at"]);
    assert_ne!(after[0]["expires_at"], listed[1]["expires_at"]);
    assert_eq!(after[1]["current"], true, "the phone asked");
}

#[tokio::test]
async fn a_deleted_sessions_access_token_is_refused_at_once_and_its_socket_closed() {
    let app = spawn_app().await;
    let (_, laptop, phone) = ada_on_two_devices(&app).await;
    let mut laptop_socket = socket_in_the_room(&app, &laptop.access).await;
    let mut phone_socket = socket_in_the_room(&app, &phone.access).await;
    let laptops_session = app.current_session(&laptop.access).await;

    let response = app.end_session(&phone.access, &laptops_session).await;

    assert_eq!(response.status(), 204);
    assert_eq!(laptop_socket.closed().await, POLICY);
    assert_refused_as_ended(&app, &laptop.access, "the deleted session's access token").await;
    assert_problem(
        app.refresh(&laptop.refresh).await,
        401,
        "invalid_refresh_token",
    )
    .await;
    still_open_after_the_bus_spoke(&app, &phone.access, &mut phone_socket).await;
    assert_eq!(app.listed_sessions(&phone.access).await.len(), 1);
    // Ended once, it is not there to end again.
    assert_problem(
        app.end_session(&phone.access, &laptops_session).await,
        404,
        "session_not_found",
    )
    .await;
}

#[tokio::test]
async fn another_users_session_an_unknown_and_a_malformed_id_are_one_404() {
    let app = spawn_app().await;
    let (_, ada) = app.signed_in_user().await;
    let (_, grace) = app.signed_in_user().await;
    let graces_session = app.current_session(&grace.access).await;

    for (what, id) in [
        ("Grace's session", graces_session.as_str()),
        ("an unknown id", "8d3c1f8e-2b7a-4f0e-9c51-3e6a7b9d0f12"),
        ("a malformed id", "not-a-session"),
    ] {
        let response = app.end_session(&ada.access, id).await;
        let body = assert_problem(response, 404, "session_not_found").await;
        assert_eq!(
            body["detail"], "You have no live session with this id; GET /sessions lists them.",
            "{what}"
        );
    }
    assert_eq!(
        app.me(&grace.access).await.status(),
        200,
        "Grace's session lives"
    );
}

#[tokio::test]
async fn ending_every_other_session_keeps_only_the_callers() {
    let app = spawn_app().await;
    let (ada, laptop, phone) = ada_on_two_devices(&app).await;
    let tablet = app.login_from(&ada, "Tablet/3.0").await;
    let mut phone_socket = socket_in_the_room(&app, &phone.access).await;
    let mut tablet_socket = socket_in_the_room(&app, &tablet.access).await;
    let mut laptop_socket = socket_in_the_room(&app, &laptop.access).await;

    assert_eq!(app.end_other_sessions(&laptop.access).await.status(), 204);

    assert_eq!(phone_socket.closed().await, POLICY, "the phone's socket");
    assert_eq!(tablet_socket.closed().await, POLICY, "the tablet's socket");
    still_open_after_the_bus_spoke(&app, &laptop.access, &mut laptop_socket).await;
    for (what, tokens) in [("the phone", &phone), ("the tablet", &tablet)] {
        assert_refused_as_ended(&app, &tokens.access, what).await;
    }
    let listed = app.listed_sessions(&laptop.access).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["current"], true);
}

#[tokio::test]
async fn a_password_change_ends_every_session_the_callers_included_and_closes_their_sockets() {
    let app = spawn_app().await;
    let (_, laptop, phone) = ada_on_two_devices(&app).await;
    let mut laptop_socket = socket_in_the_room(&app, &laptop.access).await;
    let mut phone_socket = socket_in_the_room(&app, &phone.access).await;

    let response = app
        .change_password(&laptop.access, PASSWORD, "a much better passphrase")
        .await;

    assert_eq!(response.status(), 204);
    assert_eq!(laptop_socket.closed().await, POLICY, "the caller's socket");
    assert_eq!(phone_socket.closed().await, POLICY, "the phone's socket");
    assert_refused_as_ended(&app, &laptop.access, "the caller's token").await;
    assert_refused_as_ended(&app, &phone.access, "the phone's token").await;
}

#[tokio::test]
async fn reusing_a_spent_refresh_token_ends_the_session_and_closes_its_socket() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;
    let mut socket = socket_in_the_room(&app, &tokens.access).await;
    assert_eq!(app.refresh(&tokens.refresh).await.status(), 200);

    // The spent token again: a thief and the owner both hold the session.
    assert_problem(
        app.refresh(&tokens.refresh).await,
        401,
        "invalid_refresh_token",
    )
    .await;

    assert_eq!(socket.closed().await, POLICY);
    assert_refused_as_ended(
        &app,
        &tokens.access,
        "the access token of the reused session",
    )
    .await;
}

#[tokio::test]
async fn a_renewal_with_a_token_of_an_ended_session_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let (_, laptop, phone) = ada_on_two_devices(&app).await;
    let mut laptop_socket = socket_in_the_room(&app, &laptop.access).await;
    let phones_session = app.current_session(&phone.access).await;
    assert_eq!(
        app.end_session(&laptop.access, &phones_session)
            .await
            .status(),
        204
    );

    laptop_socket
        .send(serde_json::json!({"type": "auth", "access_token": phone.access}))
        .await;

    let refused = laptop_socket.expect("error").await;
    assert_eq!(refused["code"], "invalid_token", "{refused}");
    still_open_after_the_bus_spoke(&app, &laptop.access, &mut laptop_socket).await;
}

#[tokio::test]
async fn a_socket_renewed_with_another_sessions_token_follows_that_session() {
    // The decision documented in docs/websocket.md: a connection belongs to the session
    // of the token that last authorised it.
    let app = spawn_app().await;
    let (_, laptop, phone) = ada_on_two_devices(&app).await;
    let mut socket = socket_in_the_room(&app, &laptop.access).await;
    socket
        .send(serde_json::json!({"type": "auth", "access_token": phone.access}))
        .await;
    socket.expect("authenticated").await;
    let laptops_session = app.current_session(&laptop.access).await;
    let phones_session = app.current_session(&phone.access).await;

    assert_eq!(
        app.end_session(&phone.access, &laptops_session)
            .await
            .status(),
        204
    );
    still_open_after_the_bus_spoke(&app, &phone.access, &mut socket).await;

    assert_eq!(
        app.end_session(&phone.access, &phones_session)
            .await
            .status(),
        204
    );
    assert_eq!(socket.closed().await, POLICY);
}

#[tokio::test]
async fn a_socket_cannot_be_opened_with_a_token_of_an_ended_session() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;
    assert_eq!(app.logout(&tokens.refresh).await.status(), 204);

    let refused = app
        .try_connect(crate::helpers::Credentials::Bearer(&tokens.access))
        .await
        .err()
        .expect("the upgrade is refused");

    assert_eq!(refused.status(), 401);
}
