//! The routes, registered in one place so the app and the OpenAPI document agree.

pub mod accounts;
pub mod health;
pub mod sessions;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers every API route (each with its OpenAPI operation).
pub fn configure(config: &mut ServiceConfig<'_>) {
    config
        .service(accounts::register)
        .service(sessions::log_in)
        .service(sessions::refresh)
        .service(sessions::log_out)
        .service(accounts::me)
        .service(accounts::update_me)
        .service(accounts::change_password)
        .service(health::live)
        .service(health::ready);
}
