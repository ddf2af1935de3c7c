//! Portico's HTTP adapter: actix-web routes and extractors, RFC 9457 problem documents,
//! the OpenAPI document and the Swagger UI.
//!
//! This crate may depend on `application` and `domain`, and on the HTTP stack (actix-web,
//! serde, utoipa). It never names an adapter: the binary (or a test) builds the use cases
//! and hands them to [`app`].

pub mod auth;
pub mod edge;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod protection;
pub mod rate_limit;
pub mod room_json;
pub mod routes;
pub mod state;
pub mod telemetry;
pub mod ws;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, web};
use utoipa::OpenApi as _;
use utoipa_actix_web::AppExt as _;
use utoipa_swagger_ui::SwaggerUi;

pub use error::{ApiError, Problem};
pub use routes::RouteTable;
pub use state::{HttpSettings, UseCases};

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";
/// Where the Swagger UI is served.
pub const DOCS_PATH: &str = "/docs";

/// Answers every request no route took: 405 with `Allow` for a known path, else 404.
async fn fallback(request: HttpRequest, routes: web::Data<RouteTable>) -> HttpResponse {
    let error = match routes.find(request.match_info().as_str()) {
        Some(route) => ApiError::MethodNotAllowed(route.methods.clone()),
        None => ApiError::NotFound,
    };
    actix_web::ResponseError::error_response(&error)
}

/// The whole application: routes, OpenAPI + Swagger UI, problem documents for unmatched
/// requests, and a tracing span per request. Used identically by the binary and tests.
pub fn app(
    use_cases: web::Data<UseCases>,
    settings: HttpSettings,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let (app, api) = App::new()
        .into_utoipa_app()
        .openapi(openapi::ApiDoc::openapi())
        .configure(routes::configure)
        .split_for_parts();
    let routes = web::Data::new(RouteTable::default());
    let cors = Condition::new(settings.cors.enabled(), settings.cors.middleware());
    let rate_limits = web::Data::from(Arc::clone(&settings.rate_limits));
    app.app_data(use_cases)
        .app_data(rate_limits)
        .app_data(settings)
        .app_data(routes)
        .service(web::resource(DOCS_PATH).get(|| async {
            HttpResponse::PermanentRedirect()
                .insert_header(("Location", "/docs/"))
                .finish()
        }))
        .service(SwaggerUi::new("/docs/{_:.*}").url(OPENAPI_PATH, api))
        .default_service(web::to(fallback))
        // The last wrap is the outermost: the span sees everything; the security headers
        // go on every response, including the problem documents made of framework errors
        // (CORS refusals among them); CORS headers reach 429s too, so browsers can read
        // them.
        .wrap(from_fn(rate_limit::limit))
        .wrap(from_fn(edge::limit_requests))
        .wrap(cors)
        .wrap(from_fn(protection::problem_documents))
        .wrap(from_fn(protection::security_headers))
        .wrap(from_fn(telemetry::request_span))
}

#[cfg(test)]
mod tests;
