//! The routes, declared in one table: each route's path, methods, budget class and
//! content-security policy stand beside the handlers that serve it, so the rate limiter,
//! the security headers and the 404/405 answers read what a route declares rather than
//! path literals of their own. A new route (the WebSocket upgrade, a browser page) gets
//! the right limits, CSP and 405s by declaring them here.

pub mod accounts;
pub mod chat;
pub mod health;
pub mod rooms;
pub mod sessions;

use std::sync::Arc;

use actix_web::dev::ServiceRequest;
use actix_web::http::Method;
use actix_web::web;
use utoipa_actix_web::service_config::ServiceConfig;

/// Which per-address budgets a request to a route spends (the per-user budget applies
/// to every request carrying a valid access token, whatever the route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetClass {
    /// The budget every route spends, per client address.
    Standard,
    /// The standard budget and the tighter one of routes that hash passwords or mint
    /// sessions.
    Session,
    /// The standard budget and the one of WebSocket upgrades (`WS_UPGRADE_RATE`): a
    /// socket costs far more than a request, so opening them is budgeted apart.
    Upgrade,
}

/// The `Content-Security-Policy` a route's responses carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CspProfile {
    /// Data, never a document to render or frame: `default-src 'none'`.
    Api,
    /// The Swagger UI: its own scripts and styles, requests to this origin only.
    Docs,
    /// The chat page (`GET /` and its files): scripts, styles, images and connections of
    /// this origin only, nothing inline, no plugins, no framing.
    Page,
}

impl CspProfile {
    /// The `Content-Security-Policy` header value of this profile.
    #[must_use]
    pub const fn policy(self) -> &'static str {
        match self {
            Self::Api => "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
            // The Swagger UI sets inline styles, hence `'unsafe-inline'` for styles only.
            Self::Docs => {
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                 img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                 base-uri 'none'; form-action 'self'"
            }
            // `connect-src 'self'` covers the page's own `ws://`/`wss://` origin too
            // (CSP Level 3), so the socket needs no wider rule.
            Self::Page => {
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                 connect-src 'self'; base-uri 'none'; form-action 'self'; \
                 frame-ancestors 'none'"
            }
        }
    }

    /// Whether responses under this profile keep the cache policy they set themselves
    /// (static files); otherwise an answer without one gets `no-store`.
    #[must_use]
    pub const fn is_static(self) -> bool {
        matches!(self, Self::Docs | Self::Page)
    }
}

/// What a route's path matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathPattern {
    /// This path exactly, where a `{name}` segment matches any one segment.
    Template(&'static str),
    /// Every path that starts with this.
    Prefix(&'static str),
}

impl PathPattern {
    fn matches(self, path: &str) -> bool {
        match self {
            Self::Prefix(prefix) => path.starts_with(prefix),
            // Segments are compared exactly: `/users/me/` is not `/users/me` (a 404,
            // never a 405 whose `Allow` lists the method just sent).
            Self::Template(template) => {
                let mut expected = template.split('/');
                let mut actual = path.split('/');
                loop {
                    match (expected.next(), actual.next()) {
                        (None, None) => return true,
                        // A `{name}` segment is never empty: the router does not match
                        // `/assets/chat/` to `/assets/chat/{file}`, so neither may we.
                        (Some(expected), Some(actual))
                            if (expected.starts_with('{') && !actual.is_empty())
                                || expected == actual => {}
                        _ => return false,
                    }
                }
            }
        }
    }
}

/// One route: what it matches, what it answers to and what applies to it.
#[derive(Debug, Clone)]
pub struct Route {
    /// The paths it serves.
    pub path: PathPattern,
    /// The methods it answers; others get 405 with these in `Allow`.
    pub methods: Vec<Method>,
    /// The budgets its requests spend.
    pub budget: BudgetClass,
    /// The policy its responses carry.
    pub csp: CspProfile,
}

/// A route's declaration and the registration of its handlers (`None` for routes the
/// app serves by other means: the OpenAPI document and the Swagger UI).
struct Declared {
    route: Route,
    register: Option<fn(&mut ServiceConfig<'_>)>,
}

fn route(path: &'static str, methods: &[Method], budget: BudgetClass) -> Route {
    Route {
        path: PathPattern::Template(path),
        methods: methods.to_vec(),
        budget,
        csp: CspProfile::Api,
    }
}

/// Every route the service answers.
fn declared() -> Vec<Declared> {
    use BudgetClass::{Session, Standard, Upgrade};
    let api = |route, register| Declared {
        route,
        register: Some(register),
    };
    // The chat page's files: registered as plain routes, so they stay out of the
    // OpenAPI document (they are a client of the API, not part of it).
    let page = |route: Route, register| Declared {
        route: Route {
            csp: CspProfile::Page,
            ..route
        },
        register: Some(register),
    };
    let docs = |path| Declared {
        route: Route {
            path,
            methods: vec![Method::GET],
            budget: Standard,
            csp: CspProfile::Docs,
        },
        register: None,
    };
    vec![
        api(route("/register", &[Method::POST], Session), |c| {
            c.service(accounts::register);
        }),
        api(route("/login", &[Method::POST], Session), |c| {
            c.service(sessions::log_in);
        }),
        api(route("/refresh", &[Method::POST], Session), |c| {
            c.service(sessions::refresh);
        }),
        api(route("/logout", &[Method::POST], Session), |c| {
            c.service(sessions::log_out);
        }),
        api(
            route("/sessions", &[Method::GET, Method::DELETE], Standard),
            |c| {
                c.service(sessions::list_sessions)
                    .service(sessions::end_other_sessions);
            },
        ),
        api(route("/sessions/{id}", &[Method::DELETE], Standard), |c| {
            c.service(sessions::end_session);
        }),
        api(
            route("/users/me", &[Method::GET, Method::PATCH], Standard),
            |c| {
                c.service(accounts::me).service(accounts::update_me);
            },
        ),
        api(route("/users/me/password", &[Method::PUT], Standard), |c| {
            c.service(accounts::change_password);
        }),
        api(route("/rooms", &[Method::GET], Standard), |c| {
            c.service(rooms::list_rooms);
        }),
        api(
            route(
                "/rooms/{room}/messages",
                &[Method::GET, Method::POST],
                Standard,
            ),
            |c| {
                c.service(rooms::history).service(rooms::publish);
            },
        ),
        api(
            route("/rooms/{room}/presence", &[Method::GET], Standard),
            |c| {
                c.service(rooms::presence);
            },
        ),
        api(route("/ws", &[Method::GET], Upgrade), |c| {
            c.service(crate::ws::upgrade::upgrade);
        }),
        api(route("/health/live", &[Method::GET], Standard), |c| {
            c.service(health::live);
        }),
        api(route("/health/ready", &[Method::GET], Standard), |c| {
            c.service(health::ready);
        }),
        page(route("/", &[Method::GET], Standard), |c| {
            c.route("/", web::get().to(chat::page));
        }),
        page(
            route("/assets/chat/{file}", &[Method::GET], Standard),
            |c| {
                c.route("/assets/chat/{file}", web::get().to(chat::asset));
            },
        ),
        docs(PathPattern::Template(crate::OPENAPI_PATH)),
        docs(PathPattern::Template(crate::DOCS_PATH)),
        docs(PathPattern::Prefix("/docs/")),
    ]
}

/// Registers every API route (each with its OpenAPI operation).
pub fn configure(config: &mut ServiceConfig<'_>) {
    for register in declared()
        .into_iter()
        .filter_map(|declared| declared.register)
    {
        register(config);
    }
}

/// The declared routes, for the middleware and the fallback to look a request up in.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct RouteTable(Arc<Vec<Route>>);

impl Default for RouteTable {
    fn default() -> Self {
        Self(Arc::new(
            declared()
                .into_iter()
                .map(|declared| declared.route)
                .collect(),
        ))
    }
}

impl RouteTable {
    /// The route serving `path` (as the router sees it: percent-decoded), if any.
    #[must_use]
    pub fn find(&self, path: &str) -> Option<&Route> {
        self.0.iter().find(|route| route.path.matches(path))
    }

    /// The declared route a request is for, if any (`None` as well when the app has no
    /// table).
    #[must_use]
    pub fn route_of(request: &ServiceRequest) -> Option<&Route> {
        request
            .app_data::<actix_web::web::Data<Self>>()?
            .find(request.match_info().as_str())
    }

    /// Every declared route.
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.0.iter()
    }
}
