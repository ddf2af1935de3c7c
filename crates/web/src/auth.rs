//! The bearer-token extractors: a handler that takes [`Authenticated`] (or
//! [`AuthenticatedSession`], when it needs the caller's session too) runs only for a
//! request carrying a valid access token of a live session of an existing user. A request's token is
//! verified once, whoever asks first (the per-user budget or the extractor), and the
//! verdict is kept in the request's extensions for the other.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, web};
use application::Caller;
use domain::ports::TokenRejection;
use domain::{AccessClaims, User};
use futures_util::future::LocalBoxFuture;

use crate::error::ApiError;
use crate::state::UseCases;

/// The user an access token was issued to.
#[derive(Debug, Clone)]
pub struct Authenticated(pub User);

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), if
/// the request has one.
pub fn bearer_token(request: &HttpRequest) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The verdict on a request's bearer token, kept in its extensions.
#[derive(Debug, Clone)]
struct Verdict(Result<AccessClaims, TokenRejection>);

/// The verdict on the request's bearer token, verifying it only the first time it is
/// asked for; `None` when the request carries no bearer token (or no use cases are
/// configured).
pub fn verified_claims(request: &HttpRequest) -> Option<Result<AccessClaims, TokenRejection>> {
    if let Some(Verdict(verdict)) = request.extensions().get::<Verdict>() {
        return Some(verdict.clone());
    }
    let token = bearer_token(request)?;
    let use_cases = request.app_data::<web::Data<UseCases>>()?;
    let verdict = use_cases.authenticate.verify(token);
    request.extensions_mut().insert(Verdict(verdict.clone()));
    Some(verdict)
}

/// The caller: the user an access token was issued to and the session it belongs to.
#[derive(Debug, Clone)]
pub struct AuthenticatedSession(pub Caller);

/// The caller of a request, whose token's verdict is taken from the extensions.
fn caller(request: &HttpRequest) -> LocalBoxFuture<'static, Result<Caller, ApiError>> {
    let verdict = verified_claims(request);
    let use_cases = request.app_data::<web::Data<UseCases>>().cloned();
    Box::pin(async move {
        let claims = verdict
            .ok_or(ApiError::MissingToken)?
            .map_err(application::AuthenticateError::Rejected)?;
        let use_cases =
            use_cases.ok_or_else(|| ApiError::internal("use cases are not configured"))?;
        Ok(use_cases.authenticate.user_of(&claims).await?)
    })
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = caller(request);
        Box::pin(async move { Ok(Self(caller.await?.user)) })
    }
}

impl FromRequest for AuthenticatedSession {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = caller(request);
        Box::pin(async move { Ok(Self(caller.await?)) })
    }
}
