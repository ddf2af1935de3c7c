//! Starts Portico: reads the configuration, sets up logging, serves until stopped.

use std::process::ExitCode;

use portico::{Application, Config, startup, telemetry};

#[actix_web::main]
async fn main() -> ExitCode {
    // A missing .env file is normal; the environment alone configures the service.
    let _ = dotenvy::dotenv();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("portico: invalid configuration\n{errors}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    if config.jwt_secret_generated {
        tracing::warn!(
            "JWT_SECRET is not set: using a random secret for this run only; \
             every token dies with the process. Set JWT_SECRET in production."
        );
    }
    let application = match Application::build(config) {
        Ok(application) => application,
        Err(error) => {
            tracing::error!(error.cause_chain = ?error, "portico could not start: {error}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(address = %application.address(), "portico is serving");
    match application.run_until_stopped(startup::stop_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error.cause_chain = ?error, "portico stopped with an error");
            ExitCode::FAILURE
        }
    }
}
