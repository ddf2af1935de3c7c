//! The bearer-token extractor: a handler that takes [`Authenticated`] runs only for a
//! request carrying a valid access token of an existing user.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use application::AuthenticateError;
use domain::User;
use domain::ports::TokenRejection;
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

impl From<AuthenticateError> for ApiError {
    fn from(error: AuthenticateError) -> Self {
        match error {
            AuthenticateError::Rejected(TokenRejection::Expired) => {
                Self::InvalidToken("the access token expired")
            }
            AuthenticateError::Rejected(TokenRejection::Invalid) => {
                Self::InvalidToken("the access token is invalid")
            }
            AuthenticateError::UserGone => Self::InvalidToken("the token's user no longer exists"),
            AuthenticateError::Adapter(error) => error.into(),
        }
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(request).map(str::to_owned);
        let use_cases = request.app_data::<web::Data<UseCases>>().cloned();
        Box::pin(async move {
            let token = token.ok_or(ApiError::MissingToken)?;
            let use_cases =
                use_cases.ok_or_else(|| ApiError::internal("use cases are not configured"))?;
            let user = use_cases.authenticate.execute(&token).await?;
            Ok(Self(user))
        })
    }
}
