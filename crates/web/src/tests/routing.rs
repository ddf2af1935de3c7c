//! Requests no route takes (404 or 405 with `Allow`), and the request id every answer
//! carries.

use actix_web::http::{Method, header};
use actix_web::test::{self, TestRequest};
use actix_web::web;
use uuid::Uuid;

use super::Mocks;
use crate::telemetry::REQUEST_ID_HEADER;

/// `method path`, with no body and no credentials.
fn request(method: Method, path: &str) -> TestRequest {
    TestRequest::default().method(method).uri(path)
}

#[actix_web::test]
async fn a_path_no_route_knows_is_a_404_problem() {
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::GET, "/users"),
        (Method::GET, "/users/me/extra"),
        (Method::POST, "/health"),
        (Method::DELETE, "/registers"),
    ] {
        let answer = Mocks::new().send(request(method, path)).await;

        answer.assert_problem(404, "not_found");
        assert!(answer.header(header::ALLOW).is_none(), "{}", answer.sent);
    }
}

#[actix_web::test]
async fn a_known_path_with_another_method_is_a_405_problem_that_lists_the_allowed_methods() {
    for (method, path, allowed) in [
        (Method::GET, "/refresh", "POST"),
        (Method::GET, "/login", "POST"),
        (Method::PUT, "/register", "POST"),
        (Method::DELETE, "/users/me", "GET, PATCH"),
        (Method::POST, "/users/me/password", "PUT"),
        (Method::POST, "/health/live", "GET"),
        (Method::DELETE, "/health/ready", "GET"),
        (Method::POST, "/openapi.json", "GET"),
    ] {
        let answer = Mocks::new().send(request(method, path)).await;

        answer.assert_problem(405, "method_not_allowed");
        assert_eq!(
            answer.header(header::ALLOW),
            Some(allowed),
            "{}",
            answer.sent
        );
    }
}

#[actix_web::test]
async fn a_path_with_a_trailing_slash_is_another_path_and_not_found() {
    for (method, path) in [
        (Method::DELETE, "/users/me/"),
        (Method::GET, "/refresh/"),
        (Method::POST, "/users/me/password/"),
    ] {
        let answer = Mocks::new().send(request(method, path)).await;

        answer.assert_problem(404, "not_found");
        assert_eq!(answer.header(header::ALLOW), None, "{}", answer.sent);
    }
}

/// A method the route does take, sent to the path with a trailing slash, must not be
/// told it is not allowed with an `Allow` header listing that very method: a client
/// cannot act on "GET not allowed; Allow: GET".
#[actix_web::test]
async fn a_trailing_slash_on_an_allowed_method_is_not_refused_with_an_allow_listing_that_method() {
    // Every case is sent before failing, so that the message shows each answer.
    let mut contradictions = Vec::new();
    for (method, path) in [
        (Method::GET, "/users/me/"),
        (Method::PATCH, "/users/me/"),
        (Method::POST, "/refresh/"),
        (Method::PUT, "/users/me/password/"),
        (Method::GET, "/health/live/"),
    ] {
        let answer = Mocks::new().send(request(method.clone(), path)).await;

        let allow = answer.header(header::ALLOW).unwrap_or_default();
        let lists_the_method = allow.split(',').any(|m| m.trim() == method.as_str());
        if answer.status.as_u16() == 405 && lists_the_method {
            contradictions.push(format!("{} answered 405 with Allow: {allow}", answer.sent));
        }
    }
    assert!(contradictions.is_empty(), "{}", contradictions.join("\n"));
}

#[actix_web::test]
async fn every_answer_carries_a_uuid_request_id() {
    let cases = [
        ("an answer", request(Method::GET, "/health/live")),
        ("a 404", request(Method::GET, "/nope")),
        ("a 405", request(Method::GET, "/refresh")),
        ("a 401", request(Method::GET, "/users/me")),
        ("a 415", request(Method::POST, "/register")),
    ];
    for (what, request) in cases {
        let answer = Mocks::new().send(request).await;

        let id = answer.header(REQUEST_ID_HEADER).unwrap_or_default();
        assert!(
            Uuid::parse_str(id).is_ok(),
            "{what} ({}) carries x-request-id {id:?}",
            answer.sent
        );
    }
}

#[actix_web::test]
async fn each_request_gets_its_own_request_id() {
    let (use_cases, settings) = Mocks::new().into_parts();
    let app = test::init_service(crate::app(web::Data::new(use_cases), settings)).await;

    let mut ids = Vec::new();
    for _ in 0..3 {
        let response =
            test::call_service(&app, TestRequest::get().uri("/health/live").to_request()).await;
        let id = response
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| Uuid::parse_str(value).ok());
        ids.push(id.expect("every answer carries a UUID request id"));
    }

    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "request ids were reused: {ids:?}");
}

#[test]
fn the_route_table_and_the_handlers_declare_the_same_paths_and_methods() {
    use utoipa::OpenApi as _;
    use utoipa_actix_web::AppExt as _;

    // The paths and methods the handlers' own attributes register, as the OpenAPI
    // document collects them.
    let (_, api) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(crate::openapi::ApiDoc::openapi())
        .configure(crate::routes::configure)
        .split_for_parts();
    let mut from_handlers: Vec<(String, Vec<String>)> = api
        .paths
        .paths
        .iter()
        .map(|(path, item)| {
            let mut methods: Vec<String> = [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ]
            .into_iter()
            .filter(|(_, present)| *present)
            .map(|(method, _)| method.to_owned())
            .collect();
            methods.sort();
            (path.clone(), methods)
        })
        .collect();
    from_handlers.sort();

    let mut from_table: Vec<(String, Vec<String>)> = crate::RouteTable::default()
        .iter()
        .filter(|route| route.csp == crate::routes::CspProfile::Api)
        .filter_map(|route| match route.path {
            crate::routes::PathPattern::Template(path) => {
                let mut methods: Vec<String> = route
                    .methods
                    .iter()
                    .map(|m| m.as_str().to_owned())
                    .collect();
                methods.sort();
                Some((path.to_owned(), methods))
            }
            crate::routes::PathPattern::Prefix(_) => None,
        })
        .collect();
    from_table.sort();

    assert_eq!(from_table, from_handlers);
}
