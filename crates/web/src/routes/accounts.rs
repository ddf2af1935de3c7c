//! Registering, reading and changing one's own account.

use actix_web::{HttpRequest, HttpResponse, get, patch, post, put, web};
use application::{ProfileChanges, RegisterCommand, UseCases};
use chrono::{DateTime, Utc};
use domain::{Email, Password, PersonName, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Authenticated;
use crate::error::{ApiError, Problem, held};
use crate::extract::{FieldErrors, Json, RequestBody, Secret};
use crate::routes::sessions::presented_device_token;

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "email": "ada@example.com", "password": "correct horse battery",
    "first_name": "Ada", "last_name": "Lovelace"
}))]
pub struct RegisterRequest {
    /// The login address; trimmed and compared case-insensitively.
    pub email: String,
    /// 8 to 72 bytes (UTF-8); never truncated.
    #[schema(value_type = String, format = Password)]
    pub password: Secret,
    /// At most 100 characters; empty when absent.
    pub first_name: Option<String>,
    /// At most 100 characters; empty when absent.
    pub last_name: Option<String>,
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "9b2c4c36-1c36-4f0e-9d0f-4c1b8f6f1d2a", "email": "ada@example.com",
    "first_name": "Ada", "last_name": "Lovelace",
    "created_at": "2026-11-23T20:00:00Z", "updated_at": "2026-11-23T20:00:00Z"
}))]
pub struct UserResponse {
    /// The user's id.
    pub id: Uuid,
    /// The login address, lower-cased.
    pub email: String,
    /// Given name, possibly empty.
    pub first_name: String,
    /// Family name, possibly empty.
    pub last_name: String,
    /// When the account was created (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
    /// When the account last changed (RFC 3339, UTC).
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.to_string(),
            first_name: user.first_name.to_string(),
            last_name: user.last_name.to_string(),
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

impl RequestBody for RegisterRequest {
    type Valid = RegisterCommand;

    fn validate(self, errors: &mut FieldErrors) -> Option<RegisterCommand> {
        let email = errors.check("email", Email::parse(&self.email));
        let password = errors.check("password", Password::parse(self.password.expose()));
        let first_name = optional_name(errors, "first_name", self.first_name.as_deref());
        let last_name = optional_name(errors, "last_name", self.last_name.as_deref());
        Some(RegisterCommand {
            email: email?,
            password: password?,
            first_name: first_name?.unwrap_or_default(),
            last_name: last_name?.unwrap_or_default(),
        })
    }
}

/// Parses an optional name field.
fn optional_name(
    errors: &mut FieldErrors,
    field: &str,
    raw: Option<&str>,
) -> Option<Option<PersonName>> {
    match raw {
        None => Some(None),
        Some(raw) => errors.check(field, PersonName::parse(raw)).map(Some),
    }
}

/// Register a new account.
#[utoipa::path(
    tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The account was created.", body = UserResponse),
        (status = 400, description = "Malformed JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`: the address is registered already.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, with per-field `errors`.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/register")]
pub async fn register(
    use_cases: web::Data<UseCases>,
    Json(command): Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = held(use_cases.register.execute(command).await).await?;
    Ok(HttpResponse::Created().json(UserResponse::from(user)))
}

/// The account the access token belongs to.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The current user.", body = UserResponse),
        (status = 401, description = "`missing_token` or `invalid_token`.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/me")]
pub async fn me(Authenticated(user): Authenticated) -> web::Json<UserResponse> {
    web::Json(user.into())
}

/// Changes to one's profile; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"first_name": "Augusta"}))]
pub struct UpdateProfileRequest {
    /// A new given name (at most 100 characters; empty clears it).
    pub first_name: Option<String>,
    /// A new family name (at most 100 characters; empty clears it).
    pub last_name: Option<String>,
}

impl RequestBody for UpdateProfileRequest {
    type Valid = ProfileChanges;

    fn validate(self, errors: &mut FieldErrors) -> Option<ProfileChanges> {
        let first_name = optional_name(errors, "first_name", self.first_name.as_deref());
        let last_name = optional_name(errors, "last_name", self.last_name.as_deref());
        Some(ProfileChanges {
            first_name: first_name?,
            last_name: last_name?,
        })
    }
}

/// Update one's first and last name.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, description = "The updated user.", body = UserResponse),
        (status = 401, description = "`missing_token` or `invalid_token`.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/users/me")]
pub async fn update_me(
    use_cases: web::Data<UseCases>,
    Authenticated(user): Authenticated,
    Json(changes): Json<UpdateProfileRequest>,
) -> Result<web::Json<UserResponse>, ApiError> {
    let updated = use_cases.update_profile.execute(&user, changes).await?;
    Ok(web::Json(updated.into()))
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "current_password": "correct horse battery", "new_password": "tr0ub4dor&3 is worse"
}))]
pub struct ChangePasswordRequest {
    /// The password in use now.
    #[schema(value_type = String, format = Password)]
    pub current_password: Secret,
    /// The new password: 8 to 72 bytes.
    #[schema(value_type = String, format = Password)]
    pub new_password: Secret,
}

/// A password change, parsed.
#[derive(Debug)]
pub struct PasswordChange {
    /// The password in use now.
    pub current: Password,
    /// The password to use from now on.
    pub new: Password,
}

impl RequestBody for ChangePasswordRequest {
    type Valid = PasswordChange;

    fn validate(self, errors: &mut FieldErrors) -> Option<PasswordChange> {
        let current = errors.check(
            "current_password",
            Password::parse(self.current_password.expose()),
        );
        let new = errors.check("new_password", Password::parse(self.new_password.expose()));
        Some(PasswordChange {
            current: current?,
            new: new?,
        })
    }
}

/// Change one's password; every session (refresh token) of the account ends.
///
/// Wrong current passwords are throttled like failed logins. The `portico_device`
/// cookie set by `/login` is read here too: from a client that logged in before, the
/// check is counted on that device's own allowance.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; every refresh token of the user is revoked."),
        (status = 401, description = "`invalid_credentials` (wrong current password), `missing_token` or `invalid_token`.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many wrong passwords for this address (or this device); see `Retry-After`.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/users/me/password")]
pub async fn change_password(
    request: HttpRequest,
    use_cases: web::Data<UseCases>,
    Authenticated(user): Authenticated,
    Json(PasswordChange { current, new }): Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let changed = use_cases
        .change_password
        .execute(
            &user,
            &current,
            &new,
            presented_device_token(&request).as_ref(),
        )
        .await;
    held(changed).await?;
    Ok(HttpResponse::NoContent().finish())
}
