//! Liveness and readiness probes.

use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::state::UseCases;

/// A probe's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` (live) or `ready`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The process is up and serving HTTP.
#[utoipa::path(tag = "health", responses((status = 200, description = "Alive.", body = Health)))]
#[get("/health/live")]
pub async fn live() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// The service can serve requests: its database takes a write, and its file is the one
/// it opened.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready.", body = Health),
        (status = 503, description = "`not_ready`: the database cannot take a write, or its file was deleted or replaced.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/health/ready")]
pub async fn ready(use_cases: web::Data<UseCases>) -> Result<web::Json<Health>, ApiError> {
    // The adapter logs why, once per cause: a probe every few seconds must not repeat it.
    use_cases
        .storage
        .ping()
        .await
        .map_err(|_| ApiError::NotReady)?;
    Ok(web::Json(Health { status: "ready" }))
}
