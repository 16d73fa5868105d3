//! The rules every request passes before any handler runs:
//!
//! - the Host header names this server by a loopback name and its port
//!   (a page on another site cannot reach it through DNS rebinding);
//! - the one-time token of the printed address is exchanged for an
//!   HttpOnly, SameSite=Strict cookie, and every other request needs it;
//! - a request that is not GET or HEAD carries the Origin of this server
//!   and the session's CSRF token (header or form field);
//! - no response carries CORS headers, and every response forbids
//!   framing, sniffing, caching, scripts from elsewhere, and referrers to
//!   other sites (`same-origin`, not `no-referrer`: with that, browsers send
//!   `Origin: null` on the studio's own form posts).

use std::net::IpAddr;
use std::sync::Mutex;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};
use rand::Rng;
use subtle::ConstantTimeEq;

use crate::layout;
use crate::state::Shared;

/// The path that exchanges the token for the session cookie.
pub const LOGIN_PATH: &str = "/login";
/// The header htmx sends the CSRF token in (the body's `hx-headers`).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field forms send the CSRF token in.
pub const CSRF_FIELD: &str = "csrf";
/// The largest form body read to find the CSRF token.
const MAX_FORM_BYTES: usize = 4 * 1024 * 1024;

const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// The one session a run of the studio has: whoever exchanged the token.
#[derive(Debug, Clone)]
pub struct Session {
    id: String,
    /// Sent back with every state-changing request.
    pub csrf: String,
}

/// The token, the session, and the names this server answers to.
pub struct Guard {
    token: Mutex<Option<String>>,
    session: Mutex<Option<Session>>,
    hosts: Vec<String>,
    cookie_name: String,
}

/// 32 random bytes from the thread's CSPRNG, in hex.
fn secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

impl Guard {
    /// A guard for a server listening on `ip`:`port`, with a fresh token.
    pub fn new(ip: IpAddr, port: u16) -> Self {
        let mut hosts = vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ];
        if !ip.is_loopback() && !ip.is_unspecified() {
            hosts.push(match ip {
                IpAddr::V4(v4) => format!("{v4}:{port}"),
                IpAddr::V6(v6) => format!("[{v6}]:{port}"),
            });
        }
        Self {
            token: Mutex::new(Some(secret())),
            session: Mutex::new(None),
            hosts,
            // Cookies ignore ports: two studios on one machine need two names.
            cookie_name: format!("mv_studio_{port}"),
        }
    }

    /// The one-time token (until it is used).
    pub fn token(&self) -> Option<String> {
        self.token.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// The Host header values this server answers to.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// Exchanges the token for a new session, once.
    fn exchange(&self, offered: &str) -> Option<Session> {
        let mut token = self.token.lock().unwrap_or_else(|e| e.into_inner());
        match &*token {
            Some(expected) if equal(expected, offered) => {
                *token = None;
                let session = Session {
                    id: secret(),
                    csrf: secret(),
                };
                *self.session.lock().unwrap_or_else(|e| e.into_inner()) = Some(session.clone());
                Some(session)
            }
            _ => None,
        }
    }

    /// The session whose cookie the request carries.
    fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let current = self
            .session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        let presented = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .any(|cookie| cookie.name() == self.cookie_name && equal(cookie.value(), &current.id));
        presented.then_some(current)
    }
}

/// The middleware: refuses what breaks a rule, else runs the handler with
/// the [`Session`] in the request's extensions.
pub async fn guard(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let mut response = check(&state, request, next).await;
    let headers = response.headers_mut();
    // The server's time for the request (to the first byte of a streamed
    // body), for the browser's tools and scripts/bench-studio.sh.
    if let Ok(timing) = HeaderValue::from_str(&format!(
        "app;dur={:.3}",
        started.elapsed().as_secs_f64() * 1000.0
    )) {
        headers.insert("server-timing", timing);
    }
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, layout::error_page(status, message)).into_response()
}

async fn check(state: &Shared, mut request: Request, next: Next) -> Response {
    let guard = &state.guard;
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_ascii_lowercase);
    let Some(host) = host.filter(|host| guard.hosts.contains(host)) else {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            &format!(
                "this server answers only to {} (the Host header named another)",
                guard.hosts.join(", ")
            ),
        );
    };
    let method = request.method().clone();
    let safe = method == Method::GET || method == Method::HEAD;

    if request.uri().path() == LOGIN_PATH && safe {
        let offered = url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
            .find(|(key, _)| key == "token")
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        return match guard.exchange(&offered) {
            Some(session) => {
                let cookie = Cookie::build((guard.cookie_name.clone(), session.id))
                    .http_only(true)
                    .same_site(SameSite::Strict)
                    .path("/")
                    .build();
                Response::builder()
                    .status(StatusCode::SEE_OTHER)
                    .header(header::LOCATION, "/")
                    .header(header::SET_COOKIE, cookie.to_string())
                    .body(Body::empty())
                    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
            None => refuse(
                StatusCode::FORBIDDEN,
                "this token is not valid: it works once, for the first browser that opens \
                 the address; restart mv-admin studio for a new address",
            ),
        };
    }

    let Some(session) = guard.session(request.headers()) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "open the address mv-admin studio printed (with its token) to use the studio",
        );
    };

    if !safe {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|value| value.to_str().ok())
            .map(str::to_ascii_lowercase);
        if origin.as_deref() != Some(format!("http://{host}").as_str()) {
            return refuse(
                StatusCode::FORBIDDEN,
                "cross-origin request refused: a change must come from the studio's own pages",
            );
        }
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
            Ok(bytes) => bytes,
            Err(_) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, "the request is too large"),
        };
        let from_header = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
        let from_form = is_form
            .then(|| {
                url::form_urlencoded::parse(&bytes)
                    .find(|(key, _)| key == CSRF_FIELD)
                    .map(|(_, value)| value.into_owned())
            })
            .flatten();
        let valid = [from_header, from_form]
            .into_iter()
            .flatten()
            .any(|token: String| equal(&token, &session.csrf));
        if !valid {
            return refuse(
                StatusCode::FORBIDDEN,
                "the request lacks the studio's CSRF token: reload the page and try again",
            );
        }
        request = Request::from_parts(parts, Body::from(bytes));
    }

    request.extensions_mut().insert(session);
    next.run(request).await
}
