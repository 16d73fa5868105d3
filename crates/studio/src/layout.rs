//! The page around every view, and the small pieces every view uses.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use maud::{DOCTYPE, Markup, html};

use crate::error::StudioError;
use crate::security::{CSRF_FIELD, Session};
use crate::state::{Mode, Shared};

/// What a handler needs to draw a page: the shared state and the session.
pub struct Ctx {
    pub state: Shared,
    pub session: Session,
}

impl FromRequestParts<Shared> for Ctx {
    type Rejection = StudioError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, StudioError> {
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| StudioError::Refused("no session".into()))?;
        Ok(Self {
            state: state.clone(),
            session,
        })
    }
}

const NAV: [(&str, &str); 6] = [
    ("/", "Tables"),
    ("/library", "Library"),
    ("/queue", "Queue"),
    ("/schema", "Schema"),
    ("/sql", "SQL"),
    ("/health", "Health"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            // htmx must not add inline styles or evaluate code (the CSP
            // forbids both), and shows error pages as it shows any page.
            // Links and GET forms are boosted; POST forms load whole pages.
            meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0,"responseHandling":[{"code":"204","swap":false},{"code":".*","swap":true}]}"#;
            title { (title) " · Mind-vault studio" }
            link rel="stylesheet" href="/assets/studio.css";
            script src="/assets/htmx.min.js" defer {}
            script src="/assets/studio.js" defer {}
        }
    }
}

/// A whole page: the navigation, the mode, and `content` under an `h1`.
pub fn page(ctx: &Ctx, title: &str, content: Markup) -> Markup {
    let mode = ctx.state.mode;
    let staged = ctx
        .state
        .staged
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .len();
    let headers = format!(r#"{{"X-CSRF-Token":"{}"}}"#, ctx.session.csrf);
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body hx-boost="true" hx-headers=(headers) {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "Mind-vault studio" }
                    nav aria-label="Main" {
                        @for (href, label) in NAV { a href=(href) { (label) } }
                        a href="/changes" { "Changes" @if staged > 0 { " (" (staged) ")" } }
                    }
                    span class={ "mode mode-" (match mode { Mode::ReadOnly => "read", Mode::Write => "write", Mode::Production => "production" }) }
                        title="What the studio may do to the database" { (mode.label()) }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// A page for a refused or failed request (no navigation needs a session).
pub fn error_page(status: StatusCode, message: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Error"))
            body {
                header.top { span.brand { "Mind-vault studio" } nav { a href="/" { "Tables" } } }
                main #main {
                    h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                    p.error role="alert" { (message) }
                }
            }
        }
    }
}

/// The hidden CSRF field every form that changes something carries.
pub fn csrf_field(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(ctx.session.csrf); }
}

/// A link with query parameters, encoded.
pub fn href(path: &str, params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        return path.to_string();
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{path}?{query}")
}

/// `pairs` without the keys `drop`, then `extra`.
pub fn with_params<'a>(
    pairs: &[(&'a str, &'a str)],
    drop: &[&str],
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    pairs
        .iter()
        .copied()
        .filter(|(key, _)| !drop.contains(key))
        .chain(extra.iter().copied())
        .collect()
}

/// A path segment, percent-encoded.
pub fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
