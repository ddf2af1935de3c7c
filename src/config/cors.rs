//! CORS: which browser origins may call the API, with which methods, headers and
//! credentials.

use ::web::protection::CorsSettings;
use actix_web::http::Method;
use actix_web::http::header::HeaderName;

use super::reader::{Reader, comma_list, parse_bool};

/// Reads the CORS variables, recording bad values and contradictions in `reader`.
pub(super) fn read_cors(reader: &mut Reader<'_>) -> CorsSettings {
    let allowed_origins = reader.get("CORS_ALLOWED_ORIGINS", Vec::new(), |raw| {
        comma_list(raw)
            .map(|origin| {
                let origin = origin.trim_end_matches('/');
                if origin == "*" || origin.starts_with("http://") || origin.starts_with("https://")
                {
                    Ok(origin.to_owned())
                } else {
                    Err(format!(
                        "expected origins such as https://app.example.com or *, got {origin:?}"
                    ))
                }
            })
            .collect()
    });
    let allowed_methods = reader.get(
        "CORS_ALLOWED_METHODS",
        ["GET", "POST", "PUT", "PATCH", "DELETE"]
            .iter()
            .filter_map(|method| method.parse().ok())
            .collect(),
        |raw| {
            comma_list(raw)
                .map(|method| {
                    Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                        .map_err(|_| format!("not an HTTP method: {method:?}"))
                })
                .collect()
        },
    );
    let allowed_headers = reader.get(
        "CORS_ALLOWED_HEADERS",
        vec![
            HeaderName::from_static("authorization"),
            HeaderName::from_static("content-type"),
        ],
        |raw| {
            comma_list(raw)
                .map(|name| {
                    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                        .map_err(|_| format!("not a header name: {name:?}"))
                })
                .collect()
        },
    );
    let allow_credentials = reader.get("CORS_ALLOW_CREDENTIALS", false, parse_bool);
    // Browsers refuse credentials with a wildcard origin; failing at start-up beats a
    // front end that silently cannot log in.
    if allow_credentials && allowed_origins.iter().any(|origin| origin == "*") {
        reader.report(
            "CORS_ALLOW_CREDENTIALS",
            "credentials need explicit origins; CORS_ALLOWED_ORIGINS contains *",
        );
    }
    CorsSettings {
        allowed_origins,
        allowed_methods,
        allowed_headers,
        allow_credentials,
    }
}

#[cfg(test)]
mod tests {
    use super::super::config_from;

    #[test]
    fn credentials_with_any_origin_are_refused() {
        let errors = config_from(&[
            ("CORS_ALLOWED_ORIGINS", "*"),
            ("CORS_ALLOW_CREDENTIALS", "true"),
        ])
        .unwrap_err();
        assert_eq!(errors.0[0].variable, "CORS_ALLOW_CREDENTIALS");
    }

    #[test]
    fn an_origin_without_a_web_scheme_is_refused_by_name() {
        for origin in ["app.example.com", "ftp://files.example.com"] {
            let errors = config_from(&[("CORS_ALLOWED_ORIGINS", origin)]).unwrap_err();
            assert_eq!(errors.0.len(), 1, "{origin}: {errors:?}");
            let error = &errors.0[0];
            assert_eq!(error.variable, "CORS_ALLOWED_ORIGINS");
            // The message names the bad origin.
            let problem = &error.problem;
            assert!(problem.contains(origin), "{problem}");
        }
    }

    #[test]
    fn lists_are_trimmed_and_normalised() {
        let config = config_from(&[
            (
                "CORS_ALLOWED_ORIGINS",
                " https://app.example.com/ , ,http://localhost:3000",
            ),
            ("CORS_ALLOWED_METHODS", "get, post"),
            ("CORS_ALLOWED_HEADERS", "X-Request-Id"),
        ])
        .unwrap();
        assert_eq!(
            config.cors.allowed_origins,
            ["https://app.example.com", "http://localhost:3000"]
        );
        let methods: Vec<&str> = config
            .cors
            .allowed_methods
            .iter()
            .map(|m| m.as_str())
            .collect();
        assert_eq!(methods, ["GET", "POST"]);
        assert_eq!(config.cors.allowed_headers[0].as_str(), "x-request-id");
    }
}
