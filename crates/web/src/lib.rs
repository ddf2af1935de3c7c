//! Portico's HTTP adapter: actix-web routes and extractors, RFC 9457 problem documents,
//! the OpenAPI document and the Swagger UI.
//!
//! This crate may depend on `application` and `domain`, and on the HTTP stack (actix-web,
//! serde, utoipa). It never names an adapter: the binary (or a test) builds the use cases
//! and hands them to [`app`].

pub mod auth;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod protection;
pub mod rate_limit;
pub mod routes;
pub mod state;
pub mod telemetry;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, web};
use utoipa::OpenApi as _;
use utoipa::openapi::OpenApi;
use utoipa_actix_web::AppExt as _;
use utoipa_swagger_ui::SwaggerUi;

pub use error::{ApiError, Problem};
pub use state::{HttpSettings, UseCases};

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";
/// Where the Swagger UI is served.
pub const DOCS_PATH: &str = "/docs";

/// The routes the service answers, by path template, with their methods: what a
/// request that matches no route is judged against (404 or 405).
#[derive(Debug, Clone)]
struct KnownRoutes(Arc<Vec<(Vec<String>, Vec<Method>)>>);

impl KnownRoutes {
    fn new(api: &OpenApi) -> Self {
        let mut routes: Vec<(Vec<String>, Vec<Method>)> = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    (&item.get, Method::GET),
                    (&item.post, Method::POST),
                    (&item.put, Method::PUT),
                    (&item.patch, Method::PATCH),
                    (&item.delete, Method::DELETE),
                ]
                .into_iter()
                .filter_map(|(operation, method)| operation.as_ref().map(|_| method))
                .collect();
                (segments(path), methods)
            })
            .collect();
        for path in [OPENAPI_PATH, DOCS_PATH] {
            routes.push((segments(path), vec![Method::GET]));
        }
        Self(Arc::new(routes))
    }

    /// The methods of the route matching `path`, if one does.
    fn methods_of(&self, path: &str) -> Option<&[Method]> {
        let requested = segments(path);
        self.0
            .iter()
            .find(|(template, _)| {
                template.len() == requested.len()
                    && template
                        .iter()
                        .zip(&requested)
                        .all(|(expected, actual)| expected.starts_with('{') || expected == actual)
            })
            .map(|(_, methods)| methods.as_slice())
    }
}

/// Paths are matched exactly: `/users/me/` is not `/users/me` (a 404, never a 405
/// whose `Allow` lists the method just sent).
fn segments(path: &str) -> Vec<String> {
    path.split('/').map(str::to_owned).collect()
}

/// Answers every request no route took: 405 with `Allow` for a known path, else 404.
async fn fallback(request: HttpRequest, known: web::Data<KnownRoutes>) -> HttpResponse {
    let error = match known.methods_of(request.path()) {
        Some(methods) => ApiError::MethodNotAllowed(methods.to_vec()),
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
    let known = web::Data::new(KnownRoutes::new(&api));
    let cors = Condition::new(settings.cors.enabled(), settings.cors.middleware());
    let rate_limits = web::Data::from(Arc::clone(&settings.rate_limits));
    app.app_data(use_cases)
        .app_data(rate_limits)
        .app_data(settings)
        .app_data(known)
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
        .wrap(cors)
        .wrap(from_fn(protection::problem_documents))
        .wrap(from_fn(protection::security_headers))
        .wrap(from_fn(telemetry::request_span))
}

#[cfg(test)]
mod tests;
