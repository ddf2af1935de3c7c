//! The OpenAPI document: its frame here, its paths and schemas from the handlers.

use utoipa::openapi::security::{
    Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::{Modify, OpenApi};

/// The document's frame; `routes::configure` adds every operation.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portico",
        description = "Accounts, sessions and rooms: register, log in, refresh safely, manage your \
                       profile; read your rooms' history, publish, see who is present (live \
                       traffic goes over the WebSocket). Errors are RFC 9457 problem documents \
                       with a stable `code`.",
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "accounts", description = "Registering and managing one's account."),
        (name = "sessions", description = "Logging in, refreshing tokens, logging out; listing and ending one's sessions."),
        (name = "rooms", description = "The caller's rooms: history, publishing, presence."),
        (name = "health", description = "Probes for orchestrators."),
    )
)]
pub struct ApiDoc;

/// Adds the security schemes: a bearer JWT, and the OAuth2 password flow so that the
/// Swagger UI's "Authorize" button can log in through `/login`.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from `POST /login` or `POST /refresh`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "password",
            SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new(
                "/login",
                Scopes::new(),
            ))])),
        );
    }
}
