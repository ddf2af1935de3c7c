//! The chat page (SPEC §7) in a real browser: headless Chromium driven over WebDriver
//! against the real app on a free port. Elements are found as a screen reader finds
//! them — by role and accessible name — and every wait polls the page with a deadline.
//!
//! Run alone with `cargo test -p portico --test browser`. Needs `chromium` and
//! `chromedriver` (`apt-get install -y chromium chromium-driver`; `.ci/run` installs
//! them): without them the test fails saying so, it never skips.

// Test code states its expectations with expect/unwrap, helpers included.
#![allow(clippy::expect_used, clippy::unwrap_used)]

// The end-to-end fixtures, shared with the `api` test binary; this one uses few of them.
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
mod network;
mod webdriver;

use std::path::PathBuf;

use serde_json::json;

use helpers::{PASSWORD, spawn_app};
use network::Network;
use webdriver::{Browser, Driver, ENTER, Element, RELEASE, SHIFT, wait_for, wait_for_value};

/// A person at a browser window, using the page by its labels.
struct Person {
    browser: Browser,
}

/// XPath of the text field labelled `name` (by `<label for>` or `aria-label`).
fn text_field(name: &str) -> String {
    format!(
        "//*[(self::input or self::textarea) and \
         (@id=//label[normalize-space()='{name}']/@for or @aria-label='{name}')]"
    )
}

/// XPath of the button named `name`.
fn button(name: &str) -> String {
    format!("//button[normalize-space()='{name}' or @aria-label='{name}']")
}

/// XPath of the region with `role` named `name`.
fn region(role: &str, name: &str) -> String {
    format!("//*[@role='{role}' and @aria-label='{name}']")
}

/// XPath of the list named `name` (by `aria-label` or `aria-labelledby`).
fn list(name: &str) -> String {
    format!(
        "//*[(self::ul or self::ol) and \
         (@aria-label='{name}' or @aria-labelledby=//*[normalize-space()='{name}']/@id)]"
    )
}

impl Person {
    async fn at(browser: Browser, url: &str) -> Self {
        browser.goto(url).await;
        Self { browser }
    }

    /// The control `xpath` finds, checked to be what assistive technology calls `name`.
    async fn control(&self, name: &str, xpath: &str) -> Element {
        let element = self.browser.find(name, xpath).await;
        assert_eq!(self.browser.accessible_name(&element).await, name);
        element
    }

    async fn type_into(&self, field: &str, keys: &str) {
        let element = self.control(field, &text_field(field)).await;
        self.browser.type_into(&element, keys).await;
    }

    async fn press(&self, name: &str) {
        let element = self.control(name, &button(name)).await;
        self.browser.click(&element).await;
    }

    async fn register(&self, email: &str, first_name: &str, last_name: &str) {
        self.type_into("Email", email).await;
        self.type_into("Password", PASSWORD).await;
        self.type_into("First name", first_name).await;
        self.type_into("Last name", last_name).await;
        self.press("Register").await;
        self.await_status("Connected").await;
    }

    async fn join(&self, room: &str) {
        self.type_into("Room", room).await;
        self.press("Join").await;
        let heading = format!("# {room}");
        wait_for_value(&format!("the room {room} to open"), &heading, || async {
            let title = self.browser.find_all("//h2[@id='room-title']").await;
            match title.first() {
                Some(title) => self.browser.text(title).await,
                None => String::new(),
            }
        })
        .await;
    }

    /// What the status region reads.
    async fn status(&self) -> String {
        let status = self.browser.find("status", "//*[@role='status']").await;
        assert_eq!(self.browser.role(&status).await, "status");
        self.browser.text(&status).await
    }

    async fn await_status(&self, expected: &str) {
        wait_for_value("the connection status", &expected.to_owned(), || {
            self.status()
        })
        .await;
    }

    /// The log's messages as (sender, body): each item's first line names the sender
    /// (then the time); the rest is the body.
    async fn messages(&self) -> Vec<(String, String)> {
        let mut messages = Vec::new();
        for item in self
            .browser
            .find_all(&format!("{}//li", region("log", "Messages")))
            .await
        {
            let text = self.browser.text(&item).await;
            let (heading, body) = text.split_once('\n').unwrap_or((&text, ""));
            let sender = heading.split_whitespace().next().unwrap_or_default();
            messages.push((sender.to_owned(), body.to_owned()));
        }
        messages
    }

    /// Waits until the log shows exactly `expected`, in this order, each once.
    async fn await_messages(&self, expected: &[(&str, &str)]) {
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(sender, body)| ((*sender).to_owned(), (*body).to_owned()))
            .collect();
        wait_for_value("the Messages log", &expected, || self.messages()).await;
    }

    async fn list_items(&self, name: &str) -> Vec<String> {
        let mut items = Vec::new();
        for item in self.browser.find_all(&format!("{}/li", list(name))).await {
            items.push(self.browser.text(&item).await);
        }
        items
    }

    async fn await_present(&self, expected: &[&str]) {
        let expected: Vec<String> = expected.iter().map(|name| (*name).to_owned()).collect();
        wait_for_value("the Present list", &expected, || self.list_items("Present")).await;
    }

    /// Types `body` in the Message field and sends it with Enter.
    async fn say(&self, body: &str) {
        self.type_into("Message", &format!("{body}{ENTER}")).await;
    }
}

/// Where CI collects the screenshot from.
fn screenshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/screenshots")
        .join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_chat_and_the_one_whose_network_drops_catches_up_once_in_order() {
    let app = spawn_app().await;
    // Bea reaches the app through a network the test can cut.
    let beas_network = Network::to(&app.address).await;
    let driver = Driver::start().await;
    let ada = Person::at(driver.open_browser(1100, 760).await, &app.url("/")).await;
    // Bea is on a phone.
    let bea = Person::at(
        driver.open_browser(390, 844).await,
        &format!("{}/", beas_network.address),
    )
    .await;

    ada.register("ada@example.com", "Ada", "Lovelace").await;
    bea.register("bea@example.com", "Bea", "Tester").await;
    ada.join("general").await;
    bea.join("general").await;
    bea.await_present(&["Ada Lovelace", "Bea Tester (you)"])
        .await;

    // Enter sends; the button too; Shift+Enter breaks the line.
    ada.say("Hello Bea").await;
    bea.await_messages(&[("Ada", "Hello Bea")]).await;
    bea.type_into("Message", "Hi Ada").await;
    bea.press("Send").await;
    ada.say(&format!("line one{SHIFT}{ENTER}{RELEASE}line two"))
        .await;
    ada.say("<img src=x onerror=alert(1)>").await;
    let before_the_drop = [
        ("Ada", "Hello Bea"),
        ("Bea", "Hi Ada"),
        ("Ada", "line one\nline two"),
        ("Ada", "<img src=x onerror=alert(1)>"),
    ];
    bea.await_messages(&before_the_drop).await;
    ada.await_messages(&before_the_drop).await;
    ada.await_present(&["Ada Lovelace (you)", "Bea Tester"])
        .await;
    // The markup-like body is text: no element was made of it.
    assert!(
        bea.browser
            .find_all(&format!("{}//img", region("log", "Messages")))
            .await
            .is_empty(),
        "a message body became markup"
    );

    // Bea's network drops; Ada talks on; Bea writes too, offline.
    beas_network.go_down();
    bea.await_status("Reconnecting…").await;
    ada.await_present(&["Ada Lovelace (you)"]).await;
    for body in [
        "while you were away 1",
        "while you were away 2",
        "while you were away 3",
    ] {
        ada.say(body).await;
    }
    bea.say("typed while offline").await;
    wait_for("Bea's message waiting in Unsent", || async {
        let unsent = bea.list_items("Unsent").await;
        (unsent == ["Sending: typed while offline"]).then_some(())
    })
    .await;

    // Back online: Bea catches up, each message once and in order, and her message is
    // sent once (its idempotency key makes a re-send harmless).
    beas_network.come_back();
    bea.await_status("Connected").await;
    let everything: Vec<(&str, &str)> = before_the_drop
        .into_iter()
        .chain([
            ("Ada", "while you were away 1"),
            ("Ada", "while you were away 2"),
            ("Ada", "while you were away 3"),
            ("Bea", "typed while offline"),
        ])
        .collect();
    bea.await_messages(&everything).await;
    ada.await_messages(&everything).await;
    ada.await_present(&["Ada Lovelace (you)", "Bea Tester"])
        .await;
    assert!(bea.list_items("Unsent").await.is_empty());
    let seqs = bea
        .browser
        .execute(
            "return [...document.querySelectorAll('[role=log] li')].map(li => li.dataset.seq)",
            json!([]),
        )
        .await;
    assert_eq!(seqs, json!(["1", "2", "3", "4", "5", "6", "7", "8"]));

    ada.browser.screenshot(&screenshot_path("chat.png")).await;
    bea.browser
        .screenshot(&screenshot_path("chat-phone.png"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_logs_out_and_back_in_and_sees_the_room_with_its_unread_count() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let ada = Person::at(driver.open_browser(1100, 760).await, &app.url("/")).await;
    let grace = Person::at(driver.open_browser(1100, 760).await, &app.url("/")).await;
    ada.register("ada@example.com", "Ada", "Lovelace").await;
    grace.register("grace@example.com", "Grace", "Hopper").await;
    ada.join("general").await;
    grace.join("general").await;

    ada.press("Log out").await;
    ada.await_status("Offline").await;
    grace.say("one").await;
    grace.say("two").await;
    grace
        .await_messages(&[("Grace", "one"), ("Grace", "two")])
        .await;

    ada.type_into("Email", "ada@example.com").await;
    ada.type_into("Password", &format!("{PASSWORD}{ENTER}"))
        .await;
    ada.await_status("Connected").await;
    wait_for("Ada's rooms to list general with 2 unread", || async {
        let rooms = ada.list_items("Rooms").await;
        (rooms == ["general 2 unread"]).then_some(())
    })
    .await;
    let general = ada
        .control("general 2 unread", &button("general 2 unread"))
        .await;
    ada.browser.click(&general).await;
    ada.await_messages(&[("Grace", "one"), ("Grace", "two")])
        .await;
    // Shown, so acknowledged: nothing is unread any more.
    wait_for("the unread count to clear", || async {
        (ada.list_items("Rooms").await == ["general"]).then_some(())
    })
    .await;
    ada.press("Leave").await;
    wait_for("general to leave the list", || async {
        ada.list_items("Rooms").await.is_empty().then_some(())
    })
    .await;
}
