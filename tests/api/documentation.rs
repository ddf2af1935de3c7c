//! The OpenAPI document, the Swagger UI served from the app itself, the health probes and
//! the request id.

#![allow(
    clippy::expect_used,
    reason = "clippy.toml allows expect only inside #[test] functions; these helpers are test code too"
)]

use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

async fn get(app: &TestApp, path: &str) -> Response {
    app.client
        .get(app.url(path))
        .send()
        .await
        .expect("request sent")
}

async fn openapi(app: &TestApp) -> Value {
    let response = get(app, "/openapi.json").await;
    assert_eq!(response.status(), 200, "GET /openapi.json");
    let content_type = header(&response, CONTENT_TYPE.as_str());
    assert!(
        content_type.starts_with("application/json"),
        "GET /openapi.json is {content_type:?}"
    );
    response.json().await.expect("the OpenAPI document is JSON")
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The values of every `src="…"` and `href="…"` attribute in an HTML page.
fn referenced_assets(html: &str) -> Vec<String> {
    let mut assets = Vec::new();
    for attribute in ["src=\"", "href=\"", "src='", "href='"] {
        let quote = attribute.chars().last().unwrap_or('"');
        for (start, _) in html.match_indices(attribute) {
            let rest = &html[start + attribute.len()..];
            if let Some(end) = rest.find(quote) {
                assets.push(rest[..end].to_owned());
            }
        }
    }
    assets
}

/// Resolves a reference in the page at `/docs/` to an absolute path.
fn resolve_in_docs(reference: &str) -> String {
    if reference.starts_with('/') {
        reference.to_owned()
    } else {
        format!("/docs/{}", reference.trim_start_matches("./"))
    }
}

#[tokio::test]
async fn the_openapi_document_is_version_3_1_and_lists_every_endpoint_with_its_method() {
    let app = spawn_app().await;
    let document = openapi(&app).await;

    let version = document["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi: {version:?}");
    for (path, method) in [
        ("/register", "post"),
        ("/login", "post"),
        ("/refresh", "post"),
        ("/logout", "post"),
        ("/users/me", "get"),
        ("/users/me", "patch"),
        ("/users/me/password", "put"),
        ("/health/live", "get"),
        ("/health/ready", "get"),
        ("/rooms", "get"),
        ("/rooms/{room}/messages", "get"),
        ("/rooms/{room}/messages", "post"),
        ("/rooms/{room}/presence", "get"),
    ] {
        assert!(
            document["paths"][path][method].is_object(),
            "the document lacks {} {path}; its paths: {}",
            method.to_uppercase(),
            document["paths"]
        );
    }
}

#[tokio::test]
async fn the_openapi_document_has_a_bearer_scheme_that_the_account_routes_require() {
    let app = spawn_app().await;
    let document = openapi(&app).await;

    let scheme = &document["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http", "the bearer scheme: {scheme}");
    assert_eq!(
        scheme["scheme"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("bearer"),
        "the bearer scheme: {scheme}"
    );

    let requires_bearer = |path: &str, method: &str| {
        document["paths"][path][method]["security"]
            .as_array()
            .is_some_and(|requirements| {
                requirements
                    .iter()
                    .any(|requirement| requirement.get("bearer").is_some())
            })
    };
    for (path, method) in [
        ("/users/me", "get"),
        ("/users/me", "patch"),
        ("/users/me/password", "put"),
        ("/rooms", "get"),
        ("/rooms/{room}/messages", "get"),
        ("/rooms/{room}/messages", "post"),
        ("/rooms/{room}/presence", "get"),
    ] {
        assert!(
            requires_bearer(path, method),
            "{} {path} must require the bearer scheme: {}",
            method.to_uppercase(),
            document["paths"][path][method]
        );
    }
    for (path, method) in [("/register", "post"), ("/health/live", "get")] {
        assert!(
            !requires_bearer(path, method),
            "{} {path} must not require a token",
            method.to_uppercase()
        );
    }
}

#[tokio::test]
async fn docs_redirects_permanently_to_docs_with_a_trailing_slash() {
    let app = spawn_app().await;
    let response = get(&app, "/docs").await;
    assert_eq!(response.status(), 308, "GET /docs");
    assert_eq!(header(&response, LOCATION.as_str()), "/docs/", "GET /docs");
}

#[tokio::test]
async fn the_docs_page_is_html_whose_assets_the_app_serves_itself() {
    let app = spawn_app().await;
    let response = get(&app, "/docs/").await;
    assert_eq!(response.status(), 200, "GET /docs/");
    let content_type = header(&response, CONTENT_TYPE.as_str());
    assert!(
        content_type.starts_with("text/html"),
        "GET /docs/ is {content_type:?}"
    );
    let html = response.text().await.expect("the page");

    let assets = referenced_assets(&html);
    assert!(
        assets.iter().any(|asset| asset.ends_with(".js")),
        "the page references no script: {html}"
    );
    for asset in &assets {
        // Offline: nothing may come from a CDN.
        assert!(
            !asset.contains("://") && !asset.starts_with("//"),
            "the page loads {asset} from elsewhere"
        );
        let path = resolve_in_docs(asset);
        let response = get(&app, &path).await;
        assert_eq!(response.status(), 200, "GET {path} (referenced as {asset})");
        let body = response.bytes().await.expect("the asset");
        assert!(!body.is_empty(), "GET {path} is empty");
    }
}

#[tokio::test]
async fn the_swagger_ui_bundle_is_served_by_the_app() {
    let app = spawn_app().await;
    let response = get(&app, "/docs/swagger-ui-bundle.js").await;
    assert_eq!(response.status(), 200, "GET /docs/swagger-ui-bundle.js");
    let content_type = header(&response, CONTENT_TYPE.as_str());
    assert!(
        content_type.contains("javascript"),
        "the bundle is {content_type:?}"
    );
    let bundle = response.bytes().await.expect("the bundle");
    assert!(
        bundle.len() > 100_000,
        "the bundle is only {} bytes",
        bundle.len()
    );
}

#[tokio::test]
async fn the_swagger_initializer_points_at_the_openapi_document() {
    let app = spawn_app().await;
    let response = get(&app, "/docs/swagger-initializer.js").await;
    assert_eq!(response.status(), 200, "GET /docs/swagger-initializer.js");
    let script = response.text().await.expect("the initializer");
    assert!(
        script.contains("/openapi.json"),
        "the initializer does not load /openapi.json: {script}"
    );
}

#[tokio::test]
async fn liveness_answers_ok_and_readiness_answers_ready() {
    let app = spawn_app().await;
    for (path, expected) in [
        ("/health/live", json!({"status": "ok"})),
        ("/health/ready", json!({"status": "ready"})),
    ] {
        let response = get(&app, path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body, expected, "GET {path}");
    }
}

#[tokio::test]
async fn every_response_carries_its_own_request_id() {
    let app = spawn_app().await;
    let mut seen = Vec::new();
    for (method, path) in [
        (Method::GET, "/health/live"),
        (Method::GET, "/health/ready"),
        (Method::GET, "/openapi.json"),
        (Method::GET, "/docs"),
        (Method::GET, "/docs/"),
        (Method::GET, "/no/such/path"),
        (Method::GET, "/register"),
        (Method::GET, "/users/me"),
        (Method::POST, "/register"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .expect("request sent");
        let id = header(&response, "x-request-id");
        assert!(
            !id.is_empty(),
            "{method} {path} ({}) has no x-request-id",
            response.status()
        );
        assert!(
            !seen.contains(&id),
            "{method} {path} repeats the request id {id}"
        );
        seen.push(id);
    }
}
