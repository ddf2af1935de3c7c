//! Registering, reading and changing one's account, and password hashes that move.

use domain::Email;
use infrastructure::storage::{DatabaseUrl, Storage};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Registered, Tokens, assert_problem, spawn_app};

#[tokio::test]
async fn registration_returns_the_user_without_any_hash() {
    let app = spawn_app().await;
    let response = app
        .register(&json!({
            "email": " Grace.Hopper@Example.COM ", "password": PASSWORD,
            "first_name": " Grace ", "last_name": "Hopper"
        }))
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        [
            "created_at",
            "email",
            "first_name",
            "id",
            "last_name",
            "updated_at"
        ]
    );
    assert_eq!(body["email"], "grace.hopper@example.com");
    assert_eq!(body["first_name"], "Grace");
    assert_eq!(body["last_name"], "Hopper");
    assert_eq!(body["created_at"], body["updated_at"]);
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn names_are_empty_when_not_given() {
    let app = spawn_app().await;
    let response = app
        .register(&json!({"email": "min@example.com", "password": PASSWORD}))
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["first_name"].as_str(), body["last_name"].as_str()),
        (Some(""), Some(""))
    );
}

#[tokio::test]
async fn a_right_to_left_override_in_a_name_or_address_is_refused_and_creates_nothing() {
    let app = spawn_app().await;
    // U+202E shows what follows it reversed: "ecalevoL" would be displayed "Lovelace".
    let cases = [
        (
            "first_name",
            json!({
                "email": "rlo-name@example.com", "password": PASSWORD,
                "first_name": "Ada\u{202E}ecalevoL"
            }),
            "rlo-name@example.com",
        ),
        (
            "email",
            json!({"email": "ada\u{202E}moc.elpmaxe@example.com", "password": PASSWORD}),
            "adamoc.elpmaxe@example.com",
        ),
    ];
    for (field, body, clean_email) in cases {
        let response = app.register(&body).await;
        let problem = assert_problem(response, 422, "validation_failed").await;
        assert_eq!(
            problem["errors"],
            json!([{
                "field": field,
                "message": "must not contain control or formatting characters"
            }]),
            "sent {body}"
        );

        // Nothing was stored: the address is still free, and nobody can log in with it.
        assert_problem(
            app.login(clean_email, PASSWORD).await,
            401,
            "invalid_credentials",
        )
        .await;
        let clean = app
            .register(&json!({"email": clean_email, "password": PASSWORD}))
            .await;
        assert_eq!(
            clean.status(),
            201,
            "registering {clean_email} after {body}"
        );
    }
}

#[tokio::test]
async fn a_decomposed_name_or_address_is_stored_and_returned_composed() {
    let app = spawn_app().await;
    // "Zoë" typed as "e" followed by U+0308 COMBINING DIAERESIS, as some keyboards send it.
    let response = app
        .register(&json!({
            "email": "zoe\u{308}@example.com", "password": PASSWORD,
            "first_name": "Zoe\u{308}", "last_name": "Bro\u{302}me"
        }))
        .await;
    assert_eq!(response.status(), 201);
    let registered: Value = response.json().await.unwrap();
    assert_eq!(registered["email"], "zo\u{EB}@example.com");
    assert_eq!(registered["first_name"], "Zo\u{EB}");
    assert_eq!(registered["last_name"], "Br\u{F4}me");

    // The composed spelling is the same account, and what was stored is composed.
    let login = app.login("zo\u{EB}@example.com", PASSWORD).await;
    assert_eq!(login.status(), 200, "login with the composed address");
    let tokens = Tokens::from_body(&login.json().await.unwrap());
    let stored: Value = app.me(&tokens.access).await.json().await.unwrap();
    assert_eq!(stored, registered);
    let again = app
        .register(&json!({"email": "zo\u{EB}@example.com", "password": PASSWORD}))
        .await;
    assert_problem(again, 409, "email_taken").await;
}

#[tokio::test]
async fn a_profile_update_changes_only_the_given_names_and_moves_updated_at() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;
    let before: Value = app.me(&tokens.access).await.json().await.unwrap();
    app.clock.advance(chrono::Duration::seconds(1));

    let response = app
        .update_me(&tokens.access, &json!({"last_name": "Byron"}))
        .await;
    assert_eq!(response.status(), 200);
    let after: Value = response.json().await.unwrap();
    assert_eq!(after["first_name"], before["first_name"]);
    assert_eq!(after["last_name"], "Byron");
    assert_eq!(after["created_at"], before["created_at"]);
    assert_ne!(after["updated_at"], before["updated_at"]);

    let reread: Value = app.me(&tokens.access).await.json().await.unwrap();
    assert_eq!(reread, after);
}

#[tokio::test]
async fn an_invalid_profile_update_changes_nothing() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in_user().await;
    let before: Value = app.me(&tokens.access).await.json().await.unwrap();
    let too_long = "x".repeat(101);
    for body in [
        json!({"first_name": "Ok", "last_name": too_long}),
        json!({"first_name": "line\nbreak"}),
        json!({"last_name": "zero\u{200B}width"}),
        json!({"email": "new@example.com"}),
        json!({"first_name": 7}),
    ] {
        let response = app.update_me(&tokens.access, &body).await;
        assert_problem(response, 422, "validation_failed").await;
    }
    let after: Value = app.me(&tokens.access).await.json().await.unwrap();
    assert_eq!(after, before);
}

#[tokio::test]
async fn a_password_change_ends_every_session_and_swaps_the_password() {
    let app = spawn_app().await;
    let user = app.register_user().await;
    let laptop = app.login_tokens(&user).await;
    let phone = app.login_tokens(&user).await;
    let new_password = "a much better passphrase";

    let response = app
        .change_password(&laptop.access, PASSWORD, new_password)
        .await;
    assert_eq!(response.status(), 204);

    for session in [&laptop, &phone] {
        assert_problem(
            app.refresh(&session.refresh).await,
            401,
            "invalid_refresh_token",
        )
        .await;
    }
    assert_problem(
        app.login(&user.email, PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(app.login(&user.email, new_password).await.status(), 200);
}

#[tokio::test]
async fn a_wrong_current_password_changes_nothing() {
    let app = spawn_app().await;
    let (user, tokens) = app.signed_in_user().await;
    let response = app
        .change_password(
            &tokens.access,
            "not my password",
            "a much better passphrase",
        )
        .await;
    assert_problem(response, 401, "invalid_credentials").await;
    let too_short = app.change_password(&tokens.access, PASSWORD, "short").await;
    let body = assert_problem(too_short, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "new_password");

    assert_eq!(app.refresh(&tokens.refresh).await.status(), 200);
    assert_eq!(app.login(&user.email, PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn account_routes_need_an_access_token() {
    let app = spawn_app().await;
    let me = app.client.get(app.url("/users/me")).send().await.unwrap();
    assert_problem(me, 401, "missing_token").await;
    let patch = app
        .client
        .patch(app.url("/users/me"))
        .json(&json!({"first_name": "X"}))
        .send()
        .await
        .unwrap();
    assert_problem(patch, 401, "missing_token").await;
    let password = app
        .client
        .put(app.url("/users/me/password"))
        .json(&json!({"current_password": PASSWORD, "new_password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_problem(password, 401, "missing_token").await;
}

async fn stored_hash(database_url: &str, email: &str) -> String {
    let url = DatabaseUrl::parse(database_url).unwrap();
    let storage = Storage::open(
        &url,
        infrastructure::storage::StorageSettings {
            pool_size: 1,
            sqlite_synchronous: infrastructure::storage::Synchronous::Full,
        },
    )
    .unwrap();
    let credentials = storage
        .users
        .find_credentials(&Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap();
    credentials.password_hash.as_ref().to_owned()
}

#[tokio::test]
async fn switching_to_argon2id_upgrades_each_hash_at_its_next_login() {
    let app = spawn_app().await;
    let user: Registered = app.register_user().await;
    assert!(
        stored_hash(&app.database_url, &user.email)
            .await
            .starts_with("$2b$04$")
    );

    // The same database, served again with argon2id configured (small memory for speed).
    let restarted = app.restarted_with(&[
        ("PASSWORD_HASH", "argon2id"),
        ("ARGON2_MEMORY_KIB", "1024"),
        ("ARGON2_ITERATIONS", "1"),
    ]);
    let updated_before: Value = {
        let tokens = restarted.login_tokens(&user).await;
        restarted.me(&tokens.access).await.json().await.unwrap()
    };
    let upgraded = stored_hash(&app.database_url, &user.email).await;
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
        "{upgraded}"
    );

    // The upgrade is invisible: the same password works, on both configurations, and
    // the profile's updated_at did not move.
    restarted.login_tokens(&user).await;
    assert_eq!(stored_hash(&app.database_url, &user.email).await, upgraded);
    app.login_tokens(&user).await;
    let tokens = app.login_tokens(&user).await;
    let profile: Value = app.me(&tokens.access).await.json().await.unwrap();
    assert_eq!(profile["updated_at"], updated_before["updated_at"]);
    assert_eq!(profile["updated_at"], profile["created_at"]);
}

#[tokio::test]
async fn raising_the_bcrypt_cost_keeps_old_hashes_working_and_upgrades_them() {
    let app = spawn_app().await;
    let user = app.register_user().await;
    let stronger = app.restarted_with(&[("BCRYPT_COST", "5")]);
    stronger.login_tokens(&user).await;
    assert!(
        stored_hash(&app.database_url, &user.email)
            .await
            .starts_with("$2b$05$")
    );
    // A failed login never rewrites the hash.
    let upgraded = stored_hash(&app.database_url, &user.email).await;
    assert_problem(
        stronger.login(&user.email, "wrong password!").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(stored_hash(&app.database_url, &user.email).await, upgraded);
}
