//! Rate limits and the login throttle: the request budgets per client and per user, whose
//! forwarding header is believed, and how failed logins lock an address.

use std::num::NonZeroU32;
use std::time::Duration;

use ::web::rate_limit::{Budget, ForwardingHeader, RateLimitSettings};
use application::LoginThrottlePolicy;
use ipnet::IpNet;

use super::reader::{
    Reader, chrono_duration, comma_list, parse_bool, parse_duration, parse_either, parse_number,
};

/// The limits, as read; [`super::Config`] documents each.
pub(super) struct Limits {
    /// `RATE_LIMIT_*`, `TRUSTED_PROXIES`, `FORWARDED_HEADER`.
    pub(super) rate_limits: RateLimitSettings,
    /// `LOGIN_MAX_FAILURES`, `LOGIN_LOCKOUT`, `LOGIN_LOCKOUT_MAX`.
    pub(super) login_throttle: LoginThrottlePolicy,
}

impl Limits {
    /// Reads the rate-limit and login-throttle variables, recording bad values in `reader`.
    pub(super) fn read(reader: &mut Reader<'_>) -> Self {
        let rate_limits = read_rate_limits(reader);
        let max_failures = reader.get("LOGIN_MAX_FAILURES", 5, parse_number(1, 1_000));
        let login_throttle = LoginThrottlePolicy {
            // RATE_LIMIT_ENABLED=false turns every limit off, this one included.
            max_failures: if rate_limits.enabled {
                max_failures
            } else {
                u32::MAX
            },
            lockout: chrono_duration(reader.get(
                "LOGIN_LOCKOUT",
                Duration::from_secs(30),
                parse_duration,
            )),
            max_lockout: chrono_duration(reader.get(
                "LOGIN_LOCKOUT_MAX",
                Duration::from_secs(15 * 60),
                parse_duration,
            )),
        };
        Self {
            rate_limits,
            login_throttle,
        }
    }
}

fn read_rate_limits(reader: &mut Reader<'_>) -> RateLimitSettings {
    let budget = |count: u32, seconds: u64| Budget {
        burst: NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN),
        period: Duration::from_secs(seconds),
    };
    let parse_budget =
        |raw: &str| Budget::parse(raw, parse_duration).map_err(|error| error.to_string());
    RateLimitSettings {
        enabled: reader.get("RATE_LIMIT_ENABLED", true, parse_bool),
        per_ip: reader.get("RATE_LIMIT_PER_IP", budget(600, 60), parse_budget),
        session_routes: reader.get("RATE_LIMIT_SESSION_ROUTES", budget(20, 60), parse_budget),
        per_user: reader.get("RATE_LIMIT_PER_USER", budget(300, 60), parse_budget),
        // Read with the other WebSocket variables (`websocket.rs`), which set it.
        upgrades: budget(30, 60),
        trusted_proxies: reader.get("TRUSTED_PROXIES", Vec::new(), |raw| {
            comma_list(raw)
                .map(|entry| {
                    entry
                        .parse::<IpNet>()
                        .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                        .map_err(|_| format!("expected IP addresses or CIDR blocks, got {entry:?}"))
                })
                .collect()
        }),
        forwarding_header: reader.get(
            "FORWARDED_HEADER",
            ForwardingHeader::XForwardedFor,
            parse_either(
                ("x-forwarded-for", ForwardingHeader::XForwardedFor),
                ("forwarded", ForwardingHeader::Forwarded),
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ::web::rate_limit::ForwardingHeader;

    use super::super::config_from;

    #[test]
    fn turning_rate_limits_off_turns_the_login_throttle_off_too() {
        let on = config_from(&[("LOGIN_MAX_FAILURES", "3")]).unwrap();
        assert_eq!(on.login_throttle.max_failures, 3);
        let off =
            config_from(&[("LOGIN_MAX_FAILURES", "3"), ("RATE_LIMIT_ENABLED", "false")]).unwrap();
        assert!(!off.rate_limits.enabled);
        assert_eq!(off.login_throttle.max_failures, u32::MAX);
    }

    #[test]
    fn the_forwarding_header_is_chosen_by_name() {
        let config = config_from(&[("FORWARDED_HEADER", "Forwarded")]).unwrap();
        assert_eq!(
            config.rate_limits.forwarding_header,
            ForwardingHeader::Forwarded
        );
        assert_eq!(
            config_from(&[]).unwrap().rate_limits.forwarding_header,
            ForwardingHeader::XForwardedFor
        );
        assert!(config_from(&[("FORWARDED_HEADER", "via")]).is_err());
    }

    #[test]
    fn budgets_are_read_as_count_per_duration() {
        let config = config_from(&[("RATE_LIMIT_PER_IP", "10 / 30s")]).unwrap();
        assert_eq!(config.rate_limits.per_ip.burst.get(), 10);
        assert_eq!(config.rate_limits.per_ip.period, Duration::from_secs(30));
    }

    #[test]
    fn a_bad_budget_says_which_part_is_wrong() {
        for (raw, problem) in [
            ("600", "expected COUNT/DURATION such as 600/1m, got \"600\""),
            ("0/1m", "expected a positive count before '/', got \"0\""),
            (
                "600/1w",
                "expected a duration such as 900, 15m or 7d, got \"1w\"",
            ),
        ] {
            let errors = config_from(&[("RATE_LIMIT_PER_USER", raw)]).unwrap_err();
            assert_eq!(errors.0[0].variable, "RATE_LIMIT_PER_USER", "sent {raw:?}");
            assert_eq!(errors.0[0].problem, problem, "sent {raw:?}");
        }
    }
}
