//! The browser chat client's files (`GET /`, `/assets/chat/…`): what they are served as,
//! the page's content-security policy, and revalidation by `ETag`.

use actix_web::http::{Method, header};
use actix_web::test::TestRequest;

use super::Mocks;

/// The policy SPEC §7 asks of the page, directive by directive.
const PAGE_POLICY: [&str; 8] = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
];

#[actix_web::test]
async fn the_page_and_its_files_are_served_with_their_content_types() {
    for (path, content_type, contains) in [
        (
            "/",
            "text/html; charset=utf-8",
            "<title>Portico chat</title>",
        ),
        (
            "/assets/chat/style.css",
            "text/css; charset=utf-8",
            ".messages",
        ),
        (
            "/assets/chat/app.js",
            "text/javascript; charset=utf-8",
            "import",
        ),
        (
            "/assets/chat/api.js",
            "text/javascript; charset=utf-8",
            "/refresh",
        ),
        (
            "/assets/chat/connection.js",
            "text/javascript; charset=utf-8",
            "WebSocket",
        ),
        (
            "/assets/chat/timeline.js",
            "text/javascript; charset=utf-8",
            "seq",
        ),
    ] {
        let answer = Mocks::new().send(TestRequest::get().uri(path)).await;

        answer.assert_status(200);
        assert_eq!(
            answer.header(header::CONTENT_TYPE),
            Some(content_type),
            "{path}"
        );
        assert!(
            answer.text().contains(contains),
            "{path} lacks {contains:?}"
        );
        assert_eq!(
            answer.header(header::CACHE_CONTROL),
            Some("no-cache"),
            "{path}"
        );
        assert!(
            answer
                .header(header::ETAG)
                .is_some_and(|etag| etag.len() == 18),
            "{path}: a quoted 16-digit ETag"
        );
        assert_eq!(
            answer.header(header::X_CONTENT_TYPE_OPTIONS),
            Some("nosniff"),
            "{path}"
        );
    }
}

#[actix_web::test]
async fn the_page_carries_a_strict_policy_with_nothing_inline() {
    let answer = Mocks::new().send(TestRequest::get().uri("/")).await;

    let policy = answer
        .header(header::CONTENT_SECURITY_POLICY)
        .unwrap_or_default();
    let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
    for directive in PAGE_POLICY {
        assert!(directives.contains(&directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    let page = answer.text();
    assert!(!page.contains("<script>"), "no inline script");
    assert!(!page.contains("style="), "no style attribute");
    assert!(!page.contains(" on"), "no inline event handler");
}

#[actix_web::test]
async fn a_file_the_browser_holds_is_answered_304_without_a_body() {
    let first = Mocks::new()
        .send(TestRequest::get().uri("/assets/chat/app.js"))
        .await;
    let etag = first.header(header::ETAG).unwrap_or_default().to_owned();

    for if_none_match in [etag.clone(), format!("W/{etag}"), format!("\"x\", {etag}")] {
        let again = Mocks::new()
            .send(
                TestRequest::get()
                    .uri("/assets/chat/app.js")
                    .insert_header((header::IF_NONE_MATCH, if_none_match.clone())),
            )
            .await;

        again.assert_status(304);
        assert!(again.body.is_empty(), "{if_none_match}");
        assert_eq!(again.header(header::ETAG), Some(etag.as_str()));
    }
    let stale = Mocks::new()
        .send(
            TestRequest::get()
                .uri("/assets/chat/app.js")
                .insert_header((header::IF_NONE_MATCH, "\"0000000000000000\"")),
        )
        .await;
    stale.assert_status(200);
}

#[actix_web::test]
async fn an_unknown_file_is_a_404_problem() {
    for path in [
        "/assets/chat/nope.js",
        "/assets/chat/index.html",
        "/assets/chat/..%2Fapp.js",
        "/assets/chat/",
        "/assets/other/app.js",
    ] {
        Mocks::new()
            .send(TestRequest::get().uri(path))
            .await
            .assert_problem(404, "not_found");
    }
}

#[actix_web::test]
async fn the_page_answers_get_only() {
    for path in ["/", "/assets/chat/app.js"] {
        let answer = Mocks::new()
            .send(TestRequest::default().method(Method::POST).uri(path))
            .await;

        answer.assert_problem(405, "method_not_allowed");
        assert_eq!(answer.header(header::ALLOW), Some("GET"), "{path}");
    }
}
