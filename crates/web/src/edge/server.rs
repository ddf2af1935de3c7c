//! Serving the app: actix's server and HTTP/1 service assembled by hand, as actix-web's
//! `HttpServer` does, with three things it cannot be told:
//!
//! - an **expect** service, so that a request announcing a body over the limit with
//!   `Expect: 100-continue` gets its 413 at once, never `100 Continue` first (actix-http
//!   writes `100 Continue` as soon as the expect service approves, before the app runs);
//! - a **guard** in front of the app that refuses a request whose length is ambiguous
//!   (`Content-Length` with `Transfer-Encoding`, RFC 9112 §6.1) and ends the connection;
//! - each connection's **I/O** wrapped ([`Connection`]), and a cap per peer address.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_codec::Framed;
use actix_http::body::{BoxBody, EitherBody, MessageBody};
use actix_http::error::DispatchError;
use actix_http::h1::Codec;
use actix_http::{HttpMessage as _, HttpService, Request, Response};
use actix_server::Server;
use actix_service::{
    IntoServiceFactory as _, Service, ServiceFactory, ServiceFactoryExt as _, apply_fn_factory,
    fn_factory, fn_service, map_config,
};
use actix_web::dev::AppConfig;
use actix_web::http::header::{self, HeaderMap};
use actix_web::web::Data;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use super::connection::{Connection, ConnectionControl, closing_problem};
use super::upgraded;
use super::{Edge, PeerCounts};
use crate::error::{ApiError, Problem};
use crate::state::{HttpSettings, UseCases};

/// How the server runs, beside the edge's limits.
#[derive(Debug, Clone, Copy)]
pub struct ServerSettings {
    /// Worker threads, each serving its share of the connections.
    pub workers: usize,
    /// Connections open at once across every worker, already lowered below the
    /// process's open-file limit by the caller.
    pub max_connections: usize,
    /// How long in-flight requests may finish after a stop.
    pub shutdown_grace: Duration,
}

/// How long a connection refused for its address waits for the request it came with,
/// so that closing it does not reset the connection before the client reads the 429.
const REFUSAL_READ_GRACE: Duration = Duration::from_millis(200);
/// How long writing that 429 may take.
const REFUSAL_WRITE_GRACE: Duration = Duration::from_secs(1);
/// actix-web's default: how long a closing connection may take to shut down.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a request is refused before the app sees it.
fn ambiguous_framing(headers: &HeaderMap) -> Option<Problem> {
    // RFC 9112 §6.1: a sender MUST NOT send both; a server that gets both MUST close
    // the connection after answering, as a proxy in front may have framed the message
    // by the other header. actix reads it as chunked and keeps the connection.
    (headers.contains_key(header::CONTENT_LENGTH)
        && headers.contains_key(header::TRANSFER_ENCODING))
    .then(|| {
        ApiError::MalformedRequest(
            "Content-Length and Transfer-Encoding together make the message length ambiguous"
                .to_owned(),
        )
        .problem()
    })
}

/// The length a request declares, when it declares one.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The refusal of `problem` on the request's connection: written, then the connection
/// ends. Without a connection control (not served by [`serve`]), the same answer, which
/// asks for the close.
fn refusal(request: &Request, problem: &Problem) -> Response<BoxBody> {
    match request.conn_data::<Rc<ConnectionControl>>() {
        Some(control) => control.refuse(problem),
        None => closing_problem(problem, BoxBody::new),
    }
}

/// The expect service: approves `Expect: 100-continue` only for a body the app would
/// accept, so `100 Continue` never precedes a refusal.
fn check_expectation(
    body_limit: usize,
    request: Request,
) -> impl Future<Output = Result<Request, Response<BoxBody>>> {
    let verdict = if let Some(problem) = ambiguous_framing(request.headers()) {
        Err(problem)
    } else if declared_length(request.headers()).is_some_and(|length| length > body_limit as u64) {
        Err(ApiError::PayloadTooLarge(body_limit).problem())
    } else {
        Ok(())
    };
    let outcome = match verdict {
        Ok(()) => Ok(request),
        Err(problem) => {
            tracing::info!(
                status = problem.status,
                "refused an Expect: 100-continue request"
            );
            Err(refusal(&request, &problem))
        }
    };
    std::future::ready(outcome)
}

/// Why a request on a connection already refused is refused too.
const AFTER_A_REFUSAL: &str = "an earlier request on this connection was refused";

/// In front of the app: refuses ambiguous framing, serves nothing on a connection
/// already refused, and tells the connection where it stands.
fn guard<S, B>(
    request: Request,
    app: &S,
) -> impl Future<Output = Result<Response<EitherBody<B>>, actix_web::Error>> + use<S, B>
where
    S: Service<Request, Response = actix_web::dev::ServiceResponse<B>, Error = actix_web::Error>,
{
    let control = request.conn_data::<Rc<ConnectionControl>>().cloned();
    let problem = if control.as_ref().is_some_and(|control| control.is_refused()) {
        // Only reachable if a request was queued before the refusal: the refusal's body
        // ends the connection first, but answering again is safe as well.
        Some(ApiError::MalformedRequest(AFTER_A_REFUSAL.into()).problem()) // coverage: excluded: actix takes no request after a refusal
    } else {
        let ambiguous = ambiguous_framing(request.headers());
        if ambiguous.is_some() {
            tracing::info!("refused a request with ambiguous framing; connection closed");
        }
        ambiguous
    };
    let outcome = match problem {
        Some(problem) => Err(refusal(&request, &problem)),
        None => {
            if let Some(control) = &control {
                control.request_started();
            }
            Ok(app.call(request))
        }
    };
    async move {
        match outcome {
            Err(refused) => Ok(refused.map_body(|_, body| EitherBody::right(body))),
            Ok(call) => {
                let outcome = call.await;
                if let Some(control) = control {
                    // An error still ends the request: the next bytes are the next head.
                    control.request_finished(outcome.as_ref().map_or(
                        actix_http::StatusCode::INTERNAL_SERVER_ERROR,
                        actix_web::dev::ServiceResponse::status,
                    ));
                }
                let response: Response<B> = outcome?.into();
                Ok(response.map_body(|_, body| EitherBody::left(body)))
            }
        }
    }
}

/// Admits an accepted connection: over its address's cap it gets a 429 and is closed;
/// otherwise it is wrapped with the edge's deadlines and holds a slot until it closes.
async fn admit(
    stream: TcpStream,
    edge: Arc<Edge>,
    peers: Arc<PeerCounts>,
) -> Result<(Connection, Option<SocketAddr>), DispatchError> {
    let peer = stream.peer_addr().ok();
    let slot = match peer.map(|peer| peer.ip()) {
        Some(ip) if !edge.is_trusted_proxy(ip) => match peers.try_acquire(ip) {
            Some(slot) => Some(slot),
            None => {
                tracing::info!(client_ip = %ip, "refused a connection: too many open from one address");
                refuse_connection(stream).await;
                return Err(DispatchError::Io(io::Error::other(
                    "too many connections from one address",
                )));
            }
        },
        _ => None,
    };
    let settings = edge.settings();
    Ok((
        Connection::new(stream, settings.head_timeout, settings.write_timeout, slot),
        peer,
    ))
}

/// Answers a connection refused at the door with a 429 problem document and closes it.
async fn refuse_connection(mut stream: TcpStream) {
    // Read what the client already sent: closing a socket with unread input resets it,
    // and the client might then never see the answer.
    if tokio::time::timeout(REFUSAL_READ_GRACE, stream.readable())
        .await
        .is_ok()
    {
        let mut sink = [0_u8; 4096];
        let _ = stream.try_read(&mut sink);
    }
    let answer = too_many_connections();
    let _ = tokio::time::timeout(REFUSAL_WRITE_GRACE, async {
        stream.write_all(&answer).await?;
        stream.shutdown().await
    })
    .await;
}

/// The 429 written to a connection refused at the door, before any HTTP parsing.
fn too_many_connections() -> Vec<u8> {
    let mut problem = ApiError::RateLimited(1).problem();
    problem.detail =
        "Too many connections are open from your address; close some and retry.".to_owned();
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut answer = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: {}\r\ncontent-length: {}\r\n\
         retry-after: 1\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\n\
         connection: close\r\n\r\n",
        crate::error::PROBLEM_JSON,
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    answer
}

/// The service taking over the connections whose request asks to switch protocols: a
/// new one per worker, each calling its own instance of `app`.
fn upgrades<F, B>(
    app: F,
) -> impl ServiceFactory<
    (Request, Framed<Connection, Codec>),
    Config = (),
    Response = (),
    Error = Infallible,
    InitError = (),
>
where
    F: ServiceFactory<
            Request,
            Config = (),
            Response = Response<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let app = Rc::new(app);
    fn_factory(move || {
        let starting = app.new_service(());
        async move {
            let app = Rc::new(starting.await?);
            Ok(fn_service(
                move |(request, framed): (Request, Framed<Connection, Codec>)| {
                    upgraded::take_over(Rc::clone(&app), request, framed)
                },
            ))
        }
    })
}

/// Serves the app on `listener` until the returned server is stopped.
///
/// # Errors
/// The I/O error of reading the listener's address or registering it.
pub fn serve(
    listener: TcpListener,
    server: ServerSettings,
    use_cases: Data<UseCases>,
    http: HttpSettings,
) -> io::Result<Server> {
    let local = listener.local_addr()?;
    let workers = server.workers.max(1);
    // actix counts connections per worker and stops accepting when every worker is full.
    let per_worker = (server.max_connections / workers).max(1);
    let edge = Arc::clone(&http.edge);
    let peers = Arc::new(PeerCounts::new(edge.settings().max_connections_per_ip));
    let body_limit = http.body_limit;
    Ok(Server::build()
        .workers(workers)
        .max_concurrent_connections(per_worker)
        .shutdown_timeout(server.shutdown_grace.as_secs())
        // actix stops abruptly on SIGINT; the caller drains on both.
        .disable_signals()
        .listen("portico", listener, move || {
            let settings = edge.settings();
            // The app reads no server name or address from its config: `Host` is read
            // from each request. actix-web's own constructor for it is private.
            let app_instance = || {
                map_config(
                    crate::app(use_cases.clone(), http.clone()).into_factory(),
                    |()| AppConfig::default(),
                )
            };
            let app = app_instance();
            // A second instance of the app answers the requests to switch protocols,
            // on the connections taken over from the dispatcher (`upgraded`).
            let upgrade_app = app_instance();
            let http_service = HttpService::build()
                .keep_alive(settings.keep_alive)
                .client_request_timeout(settings.head_timeout)
                .client_disconnect_timeout(DISCONNECT_TIMEOUT)
                .local_addr(local)
                .on_connect_ext(|connection: &Connection, data| {
                    data.insert(connection.control());
                })
                .expect(fn_service(move |request: Request| {
                    check_expectation(body_limit, request)
                }))
                .upgrade(upgrades(apply_fn_factory(upgrade_app, guard)))
                .h1(apply_fn_factory(app, guard));
            let edge = Arc::clone(&edge);
            let peers = Arc::clone(&peers);
            fn_service(move |stream: TcpStream| {
                admit(stream, Arc::clone(&edge), Arc::clone(&peers))
            })
            .and_then(http_service)
        })?
        .run())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::dev::ServiceResponse;
    use actix_web::error::ErrorGone;

    use crate::edge::EdgeSettings;
    use crate::edge::connection::loopback_pair;
    use crate::rate_limit::RateLimitSettings;

    #[test]
    fn both_length_headers_are_ambiguous_and_either_alone_is_not() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, "5".parse().unwrap());
        assert!(ambiguous_framing(&headers).is_none());
        headers.insert(header::TRANSFER_ENCODING, "chunked".parse().unwrap());
        let problem = ambiguous_framing(&headers).expect("both headers");
        assert_eq!((problem.status, problem.code), (400, "malformed_request"));
        headers.remove(header::CONTENT_LENGTH);
        assert!(ambiguous_framing(&headers).is_none());
    }

    /// A request framed both ways, outside any served connection.
    fn ambiguous_request() -> Request {
        let mut request = Request::new();
        let headers = request.headers_mut();
        headers.insert(header::CONTENT_LENGTH, "5".parse().unwrap());
        headers.insert(header::TRANSFER_ENCODING, "chunked".parse().unwrap());
        request
    }

    /// Whether `response` is a 400 that asks for the connection to close.
    fn is_closing_bad_request<B>(response: &Response<B>) -> bool {
        response.status() == actix_http::StatusCode::BAD_REQUEST
            && response.head().connection_type() == actix_http::ConnectionType::Close
    }

    #[actix_web::test]
    async fn without_a_served_connection_a_refused_expectation_still_closes() {
        let refused = check_expectation(16, ambiguous_request())
            .await
            .expect_err("ambiguous framing is refused");
        assert!(is_closing_bad_request(&refused));

        let mut too_long = Request::new();
        too_long
            .headers_mut()
            .insert(header::CONTENT_LENGTH, "17".parse().unwrap());
        let refused = check_expectation(16, too_long)
            .await
            .expect_err("a body over the limit is refused");
        assert_eq!(refused.status(), actix_http::StatusCode::PAYLOAD_TOO_LARGE);

        let mut within = Request::new();
        within
            .headers_mut()
            .insert(header::CONTENT_LENGTH, "16".parse().unwrap());
        assert!(check_expectation(16, within).await.is_ok());
    }

    #[actix_web::test]
    async fn the_guard_refuses_ambiguous_framing_without_calling_the_app_and_passes_the_rest() {
        let app = fn_service(|_: Request| async { Err::<ServiceResponse, _>(ErrorGone("app")) });
        let answered = guard(ambiguous_request(), &app)
            .await
            .expect("a refusal, not the app's error");
        assert!(is_closing_bad_request(&answered));

        let passed = guard(Request::new(), &app).await;
        let status = passed
            .err()
            .map(|error| error.as_response_error().status_code());
        assert_eq!(
            status,
            Some(actix_http::StatusCode::GONE),
            "the app's own answer"
        );
    }

    fn edge_trusting(proxies: &[&str]) -> Arc<Edge> {
        let mut addressing = RateLimitSettings::disabled();
        addressing.trusted_proxies = proxies.iter().map(|net| net.parse().unwrap()).collect();
        Arc::new(Edge::new(EdgeSettings::default(), &addressing))
    }

    #[actix_web::test]
    async fn a_connection_over_its_addresss_cap_is_answered_429_and_closed() {
        use tokio::io::AsyncReadExt as _;
        let peers = Arc::new(PeerCounts::new(1));
        let edge = edge_trusting(&[]);
        let (first, _first_client) = loopback_pair().await;
        let admitted = admit(first, Arc::clone(&edge), Arc::clone(&peers)).await;
        assert!(admitted.is_ok());
        assert_eq!(peers.held_by("127.0.0.1".parse().unwrap()), 1);

        let (second, mut second_client) = loopback_pair().await;
        assert!(admit(second, edge, Arc::clone(&peers)).await.is_err());
        let mut answer = Vec::new();
        second_client.read_to_end(&mut answer).await.unwrap();
        assert_eq!(
            answer,
            too_many_connections(),
            "the door's 429, then the close"
        );

        drop(admitted);
        assert_eq!(
            peers.held_by("127.0.0.1".parse().unwrap()),
            0,
            "the slot is given back"
        );
    }

    #[actix_web::test]
    async fn a_trusted_proxys_connections_hold_no_slot_of_its_address() {
        let peers = Arc::new(PeerCounts::new(1));
        let edge = edge_trusting(&["127.0.0.0/8"]);
        let mut held = Vec::new();
        for _ in 0..3 {
            let (server, client) = loopback_pair().await;
            held.push((
                admit(server, Arc::clone(&edge), Arc::clone(&peers))
                    .await
                    .unwrap(),
                client,
            ));
        }
        assert_eq!(peers.held_by("127.0.0.1".parse().unwrap()), 0);
    }

    #[test]
    fn the_door_answer_is_a_complete_problem_response() {
        let answer = String::from_utf8(too_many_connections()).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 429 "), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert!(head.contains("connection: close"), "{head}");
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["code"], "rate_limited");
    }

    #[test]
    fn trusted_proxies_are_not_counted_per_address() {
        let mut addressing = RateLimitSettings::disabled();
        addressing.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
        let edge = Edge::new(EdgeSettings::default(), &addressing);
        assert!(edge.is_trusted_proxy("10.1.2.3".parse().unwrap()));
        assert!(!edge.is_trusted_proxy("192.0.2.1".parse().unwrap()));
    }
}
