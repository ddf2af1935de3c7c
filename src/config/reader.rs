//! How one variable is fetched and how each kind of value is parsed: numbers, durations,
//! booleans, lists and fixed choices, with the syntax `docs/configuration.md` describes.
//! Every parser answers with a message for the operator; [`Reader`] adds the variable.

use std::env::VarError;
use std::fmt;
use std::time::Duration;

use super::ConfigError;

/// Where variables come from. It answers as [`std::env::var`] does, so a value that is not
/// valid UTF-8 stays apart from an absent one and can be reported instead of defaulted.
pub(super) type Lookup<'a> = &'a dyn Fn(&str) -> Result<String, VarError>;

/// Reads variables through a [`Lookup`] and records each problem, so that every bad
/// variable is reported at once rather than the first one only.
pub(super) struct Reader<'a> {
    lookup: Lookup<'a>,
    errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    /// A reader with no problem recorded yet.
    pub(super) fn new(lookup: Lookup<'a>) -> Self {
        Self {
            lookup,
            errors: Vec::new(),
        }
    }

    /// The value of `variable`, or `None` when it is unset or blank. A value that is not
    /// valid UTF-8 is recorded as a problem and also gives `None`.
    fn raw(&mut self, variable: &'static str) -> Option<String> {
        match (self.lookup)(variable) {
            Ok(value) if !value.trim().is_empty() => Some(value),
            Ok(_) | Err(VarError::NotPresent) => None,
            // The bytes are not echoed: the variable may hold a secret.
            Err(VarError::NotUnicode(_)) => {
                self.report(variable, "is not valid UTF-8");
                None
            }
        }
    }

    /// The parsed value of `variable`, or `default` when it is unset (or on error, after
    /// recording the error).
    pub(super) fn get<T>(
        &mut self,
        variable: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        let Some(raw) = self.raw(variable) else {
            return default;
        };
        parse(raw.trim()).unwrap_or_else(|problem| {
            self.report(variable, problem);
            default
        })
    }

    /// Records a problem found by comparing variables, which no single parser can see.
    pub(super) fn report(&mut self, variable: &'static str, problem: impl Into<String>) {
        self.errors.push(ConfigError {
            variable,
            problem: problem.into(),
        });
    }

    /// Whether a problem is already recorded for `variable`: one complaint per variable
    /// is clearer than two that contradict each other.
    pub(super) fn has_reported(&self, variable: &str) -> bool {
        self.errors.iter().any(|error| error.variable == variable)
    }

    /// Every problem recorded, in the order the variables were read.
    pub(super) fn into_errors(self) -> Vec<ConfigError> {
        self.errors
    }
}

/// A parser for a whole number between `min` and `max`, both included.
pub(super) fn parse_number<T>(min: T, max: T) -> impl FnOnce(&str) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    move |raw| {
        let value: T = raw
            .parse()
            .map_err(|_| format!("expected a whole number, got {raw:?}"))?;
        if value < min || value > max {
            return Err(format!("must be between {min} and {max}, got {value}"));
        }
        Ok(value)
    }
}

/// The longest duration accepted. Far beyond any sensible setting, and it keeps every
/// duration well inside what `chrono` can represent (see [`chrono_duration`]).
const MAX_DURATION_SECONDS: u64 = 10 * 365 * 86_400;

/// Parses a duration: whole seconds (`900`) or a number with a unit suffix `s`, `m`,
/// `h` or `d` (`15m`, `7d`). Zero is refused.
///
/// # Errors
/// A message for the operator when the syntax is wrong or the duration is zero or over
/// ten years.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let (digits, unit_seconds) = match raw.char_indices().last() {
        Some((at, 's')) => (&raw[..at], 1),
        Some((at, 'm')) => (&raw[..at], 60),
        Some((at, 'h')) => (&raw[..at], 3_600),
        Some((at, 'd')) => (&raw[..at], 86_400),
        _ => (raw, 1),
    };
    let amount: u64 = digits
        .parse()
        .map_err(|_| format!("expected a duration such as 900, 15m or 7d, got {raw:?}"))?;
    let seconds = amount
        .checked_mul(unit_seconds)
        .filter(|seconds| *seconds > 0 && *seconds <= MAX_DURATION_SECONDS)
        .ok_or_else(|| format!("must be between 1 second and 10 years, got {raw:?}"))?;
    Ok(Duration::from_secs(seconds))
}

/// Durations are bounded to ten years by [`parse_duration`], well inside chrono's range,
/// so the fallback is never taken.
pub(super) fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// Parses a boolean in the usual spellings, in any letter case.
pub(super) fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got {raw:?}")),
    }
}

/// A parser for one of two names, in any letter case, each standing for a value.
pub(super) fn parse_either<T>(
    (first_name, first): (&'static str, T),
    (second_name, second): (&'static str, T),
) -> impl FnOnce(&str) -> Result<T, String> {
    move |raw| {
        let name = raw.to_ascii_lowercase();
        if name == first_name {
            Ok(first)
        } else if name == second_name {
            Ok(second)
        } else {
            Err(format!(
                "expected {first_name} or {second_name}, got {raw:?}"
            ))
        }
    }
}

/// A parser that takes `off` (in any letter case) for "no limit" and anything else to
/// `parse`.
pub(super) fn or_off<T>(
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> impl FnOnce(&str) -> Result<Option<T>, String> {
    move |raw| {
        if raw.eq_ignore_ascii_case("off") {
            Ok(None)
        } else {
            parse(raw)
                .map(Some)
                .map_err(|problem| format!("{problem} (or off)"))
        }
    }
}

/// The items of a comma-separated list, trimmed, empty items skipped.
pub(super) fn comma_list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

#[cfg(test)]
mod tests {
    use super::super::config_from;
    use super::*;

    #[test]
    fn durations_take_seconds_or_a_unit() {
        for (raw, seconds) in [
            ("900", 900),
            ("45s", 45),
            ("15m", 900),
            ("2h", 7_200),
            ("7d", 604_800),
        ] {
            assert_eq!(
                parse_duration(raw),
                Ok(Duration::from_secs(seconds)),
                "sent {raw:?}"
            );
        }
        for raw in [
            "",
            "m",
            "-5",
            "1.5h",
            "0",
            "0d",
            "5w",
            "99999999999999999999d",
            "4000d",
        ] {
            assert!(parse_duration(raw).is_err(), "sent {raw:?}");
        }
    }

    #[test]
    fn the_longest_duration_still_fits_chrono() {
        let longest = parse_duration("3650d").unwrap();
        assert_eq!(
            chrono_duration(longest),
            chrono::Duration::days(3_650),
            "3650d"
        );
    }

    #[test]
    fn booleans_take_the_usual_spellings() {
        for raw in ["true", "TRUE", "1", "yes", "on"] {
            assert_eq!(parse_bool(raw), Ok(true), "sent {raw:?}");
        }
        for raw in ["false", "0", "no", "off"] {
            assert_eq!(parse_bool(raw), Ok(false), "sent {raw:?}");
        }
    }

    #[test]
    fn a_choice_is_one_of_two_names_in_any_case() {
        let parse = || parse_either(("pretty", 1), ("json", 2));
        assert_eq!(parse()("JSON"), Ok(2));
        assert_eq!(parse()("pretty"), Ok(1));
        assert_eq!(
            parse()("xml"),
            Err("expected pretty or json, got \"xml\"".to_owned())
        );
    }

    #[test]
    fn a_limit_may_be_off_in_any_case() {
        let parse = || or_off(parse_number(1_u64, 10));
        assert_eq!(parse()("OFF"), Ok(None));
        assert_eq!(parse()("off"), Ok(None));
        assert_eq!(parse()("7"), Ok(Some(7)));
        assert_eq!(
            parse()("11"),
            Err("must be between 1 and 10, got 11 (or off)".to_owned())
        );
    }

    #[test]
    fn blank_values_count_as_unset() {
        let config = config_from(&[("PORTICO_BIND", "  "), ("JWT_SECRET", "")]).unwrap();
        assert_eq!(config.bind.port(), 8080);
        assert!(config.jwt_secret_generated);
    }

    #[test]
    fn a_value_that_is_not_unicode_is_a_problem_not_a_default() {
        let lookup = |variable: &str| match variable {
            "SHUTDOWN_GRACE" => Err(VarError::NotUnicode("not shown".into())),
            _ => Err(VarError::NotPresent),
        };
        let mut reader = Reader::new(&lookup);
        let grace = reader.get("SHUTDOWN_GRACE", Duration::from_secs(30), parse_duration);
        let workers = reader.get("HTTP_WORKERS", 2, parse_number(1, 8));
        assert_eq!((grace, workers), (Duration::from_secs(30), 2));
        assert_eq!(
            reader.into_errors(),
            [ConfigError {
                variable: "SHUTDOWN_GRACE",
                problem: "is not valid UTF-8".into()
            }]
        );
    }
}
