//! Rate limiting: GCRA budgets (the `governor` crate) per client IP on every route,
//! tighter per IP on the session routes, and per user on authenticated routes. A
//! limited request gets a 429 problem with `Retry-After`; every limited route's response
//! carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
//!
//! `governor` is used directly rather than through actix-governor: it is MIT-licensed
//! (actix-governor is GPL-3.0), and a small middleware of our own gives problem
//! documents, the standard headers and several budgets per request without fighting an
//! extractor API.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{ResponseError as _, web};
use governor::clock::{Clock as _, DefaultClock};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use ipnet::IpNet;

use crate::auth::verified_claims;
use crate::error::ApiError;
use crate::routes::{BudgetClass, RouteTable};

/// `burst` requests at once, refilled evenly over `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// How many requests may arrive back to back.
    pub burst: NonZeroU32,
    /// How long a spent budget takes to refill completely.
    pub period: Duration,
}

/// Why a budget could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// There is no `/` between the count and the duration.
    #[error("expected COUNT/DURATION such as 600/1m, got {raw:?}")]
    MissingSlash {
        /// The whole value as given.
        raw: String,
    },
    /// The part before `/` is not a positive whole number.
    #[error("expected a positive count before '/', got {count:?}")]
    BadCount {
        /// The part before `/`.
        count: String,
    },
    /// The part after `/` was refused by the duration parser, whose message this carries
    /// unchanged: the syntax of a duration belongs to the caller, not to this crate.
    #[error("{0}")]
    BadPeriod(String),
}

impl Budget {
    /// Parses `COUNT/DURATION` (`600/1m`, `10/60s`), the duration read by
    /// `parse_duration`.
    ///
    /// # Errors
    /// [`BudgetError::MissingSlash`] without a `/`, [`BudgetError::BadCount`] when the
    /// count is not a positive whole number, [`BudgetError::BadPeriod`] with
    /// `parse_duration`'s message when it refuses the duration.
    pub fn parse<E: std::fmt::Display>(
        raw: &str,
        parse_duration: impl Fn(&str) -> Result<Duration, E>,
    ) -> Result<Self, BudgetError> {
        let (count, period) = raw
            .split_once('/')
            .ok_or_else(|| BudgetError::MissingSlash {
                raw: raw.to_owned(),
            })?;
        let burst = count
            .trim()
            .parse::<NonZeroU32>()
            .map_err(|_| BudgetError::BadCount {
                count: count.to_owned(),
            })?;
        let period = parse_duration(period.trim())
            .map_err(|problem| BudgetError::BadPeriod(problem.to_string()))?;
        Ok(Self { burst, period })
    }

    /// The `governor` quota: `burst` at once, one more every `period / burst`.
    pub(crate) fn quota(self) -> Quota {
        let per_request = (self.period / self.burst.get()).max(Duration::from_nanos(1));
        Quota::with_period(per_request)
            .unwrap_or_else(|| Quota::per_second(self.burst))
            .allow_burst(self.burst)
    }
}

/// Every budget and who is believed about a client's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Whether any limit applies (off for benchmarks).
    pub enabled: bool,
    /// Every route, per client IP.
    pub per_ip: Budget,
    /// `/register`, `/login`, `/refresh`, `/logout`, per client IP.
    pub session_routes: Budget,
    /// Routes called with an access token, per user.
    pub per_user: Budget,
    /// WebSocket upgrades (`GET /ws`), per client IP: `WS_UPGRADE_RATE`.
    pub upgrades: Budget,
    /// Peers whose forwarding header is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Which forwarding header they write.
    pub forwarding_header: ForwardingHeader,
}

impl RateLimitSettings {
    /// No limits at all.
    #[must_use]
    pub fn disabled() -> Self {
        let budget = Budget {
            burst: NonZeroU32::MIN,
            period: Duration::from_secs(1),
        };
        Self {
            enabled: false,
            per_ip: budget,
            session_routes: budget,
            per_user: budget,
            upgrades: budget,
            trusted_proxies: Vec::new(),
            forwarding_header: ForwardingHeader::default(),
        }
    }
}

type Limiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The live limiters: built once and shared by every worker, so a budget is the same
/// whichever worker a request lands on.
pub struct RateLimits {
    settings: RateLimitSettings,
    per_ip: Limiter,
    session_routes: Limiter,
    per_user: Limiter,
    upgrades: Limiter,
}

impl RateLimits {
    /// Limiters for these settings.
    #[must_use]
    pub fn new(settings: RateLimitSettings) -> Self {
        let limiter = |budget: Budget| RateLimiter::keyed(budget.quota()).with_middleware();
        Self {
            per_ip: limiter(settings.per_ip),
            session_routes: limiter(settings.session_routes),
            per_user: limiter(settings.per_user),
            upgrades: limiter(settings.upgrades),
            settings,
        }
    }

    /// Forgets clients whose budgets are full again, bounding memory; call periodically.
    pub fn forget_idle_clients(&self) {
        for limiter in [
            &self.per_ip,
            &self.session_routes,
            &self.per_user,
            &self.upgrades,
        ] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Takes one request from `key`'s budget.
    fn take(limiter: &Limiter, budget: Budget, key: &str) -> Result<Usage, Limited> {
        match limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => Ok(Usage::from_snapshot(budget, &snapshot)),
            Err(not_until) => Err(Limited {
                budget,
                retry_after: not_until.wait_time_from(limiter.clock().now()),
            }),
        }
    }
}

/// What is left of the tightest budget a request used.
#[derive(Debug, Clone, Copy)]
struct Usage {
    limit: u32,
    remaining: u32,
    reset: Duration,
}

impl Usage {
    fn from_snapshot(budget: Budget, snapshot: &StateSnapshot) -> Self {
        let remaining = snapshot.remaining_burst_capacity();
        let spent = budget.burst.get().saturating_sub(remaining);
        Self {
            limit: budget.burst.get(),
            remaining,
            reset: budget.period / budget.burst.get() * spent,
        }
    }
}

/// A request over budget.
#[derive(Debug, Clone, Copy)]
struct Limited {
    budget: Budget,
    retry_after: Duration,
}

/// Whole seconds, rounded up, at least `floor`.
fn ceil_seconds(duration: Duration, floor: u64) -> u64 {
    let whole = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    whole.max(floor)
}

fn insert_number(headers: &mut header::HeaderMap, name: &'static str, value: u64) {
    headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
}

/// The header trusted proxies write the client's address in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardingHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

/// The client's address: the peer's, unless the peer is a trusted proxy, in which case
/// the nearest address in the configured forwarding header that is not itself a trusted
/// proxy. Untrusted peers' forwarding headers are ignored: anyone can write them.
pub fn client_ip(
    request: &ServiceRequest,
    trusted: &[IpNet],
    forwarding: ForwardingHeader,
) -> Option<IpAddr> {
    let peer = request.peer_addr()?.ip();
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    // Every line of the header, in order: a proxy may append its own line rather than
    // extend the client's.
    let lines = |name: HeaderName| -> Vec<String> {
        request
            .headers()
            .get_all(name)
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|entry| entry.trim().to_owned())
            .collect()
    };
    // Only the header the proxy writes is read: the other one comes from the client.
    let chain: Vec<IpAddr> = match forwarding {
        ForwardingHeader::XForwardedFor => lines(HeaderName::from_static("x-forwarded-for"))
            .iter()
            .filter_map(|entry| entry.parse().ok())
            .collect(),
        ForwardingHeader::Forwarded => lines(header::FORWARDED)
            .iter()
            .flat_map(|element| element.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(key, _)| key.eq_ignore_ascii_case("for"))
            .filter_map(|(_, node)| parse_forwarded_node(node))
            .collect(),
    };
    Some(
        chain
            .iter()
            .rev()
            .find(|address| !is_trusted(address))
            .or(chain.first())
            .copied()
            .unwrap_or(peer),
    )
}

/// `192.0.2.1`, `"192.0.2.1:80"`, `"[2001:db8::1]:80"` (RFC 7239 §6).
fn parse_forwarded_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.parse()
        .ok()
        .or_else(|| node.rsplit_once(':')?.0.parse().ok())
}

/// The user id in a request's bearer token, when it verifies.
fn user_key(request: &ServiceRequest) -> Option<String> {
    let claims = verified_claims(request.request())?.ok()?;
    Some(claims.user_id.to_string())
}

/// The middleware: charges the request to every budget that applies, refuses it with a
/// 429 when one is spent, and reports the tightest budget in the response headers.
pub async fn limit(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(limits) = request
        .app_data::<web::Data<RateLimits>>()
        .filter(|limits| limits.settings.enabled)
        .cloned()
    else {
        return Ok(next.call(request).await?.map_into_left_body());
    };
    let settings = &limits.settings;
    let ip = client_ip(
        &request,
        &settings.trusted_proxies,
        settings.forwarding_header,
    )
    .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let mut charges = vec![(&limits.per_ip, settings.per_ip, ip.clone())];
    // The decoded path, as the router matches it: `/log%69n` is `/login` too.
    let class = RouteTable::route_of(&request).map(|route| route.budget);
    match class {
        Some(BudgetClass::Session) => {
            charges.push((&limits.session_routes, settings.session_routes, ip));
        }
        Some(BudgetClass::Upgrade) => charges.push((&limits.upgrades, settings.upgrades, ip)),
        Some(BudgetClass::Standard) | None => {}
    }
    if let Some(user) = user_key(&request) {
        charges.push((&limits.per_user, settings.per_user, user));
    }
    let mut tightest: Option<Usage> = None;
    for (limiter, budget, key) in charges {
        match RateLimits::take(limiter, budget, &key) {
            Ok(usage) => {
                if tightest.is_none_or(|current| usage.remaining < current.remaining) {
                    tightest = Some(usage);
                }
            }
            Err(limited) => {
                tracing::info!(retry_after = ?limited.retry_after, "rate limited");
                let retry_after = ceil_seconds(limited.retry_after, 1);
                let mut response = ApiError::RateLimited(retry_after).error_response();
                let headers = response.headers_mut();
                insert_number(
                    headers,
                    "ratelimit-limit",
                    u64::from(limited.budget.burst.get()),
                );
                insert_number(headers, "ratelimit-remaining", 0);
                insert_number(headers, "ratelimit-reset", retry_after);
                let (request, _) = request.into_parts();
                return Ok(ServiceResponse::new(request, response).map_into_right_body());
            }
        }
    }
    let mut response = next.call(request).await?;
    if let Some(usage) = tightest {
        let headers = response.headers_mut();
        insert_number(headers, "ratelimit-limit", u64::from(usage.limit));
        insert_number(headers, "ratelimit-remaining", u64::from(usage.remaining));
        insert_number(headers, "ratelimit-reset", ceil_seconds(usage.reset, 0));
    }
    Ok(response.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::parse_forwarded_node;

    #[test]
    fn a_forwarded_node_is_read_in_each_form_rfc_7239_gives_it() {
        let ip = |text: &str| text.parse::<IpAddr>().ok();
        for (node, expected) in [
            ("192.0.2.1", ip("192.0.2.1")),
            ("\"192.0.2.1:4711\"", ip("192.0.2.1")),
            ("\"[2001:db8::1]:4711\"", ip("2001:db8::1")),
            ("\"[2001:db8::1]\"", ip("2001:db8::1")),
            ("2001:db8::1", ip("2001:db8::1")),
            // Obfuscated and unknown nodes name no address.
            ("unknown", None),
            ("_proxy7", None),
            ("\"[not-an-address]:80\"", None),
        ] {
            assert_eq!(parse_forwarded_node(node), expected, "{node}");
        }
    }
}
