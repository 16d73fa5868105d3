//! An in-process studio over a test database, and requests to it as a
//! browser on this machine would send them.
#![allow(dead_code)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use diesel_async::AsyncPgConnection;
use http_body_util::BodyExt;
use local_pg::harness::{SEED, TestDatabase};
use studio::{Options, Studio};
use tower::ServiceExt;

pub struct App {
    pub db: TestDatabase,
    pub router: Router,
    /// `127.0.0.1:<port>`.
    pub host: String,
    pub login: String,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

pub async fn seeded_db() -> TestDatabase {
    let db = TestDatabase::new().await;
    let mut conn = db.connect().await;
    diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, SEED)
        .await
        .expect("seed");
    db
}

/// A studio over a seeded database, not logged in.
pub async fn start(write: bool) -> App {
    start_on(
        seeded_db().await,
        Options {
            write,
            ..Options::default()
        },
    )
    .await
}

pub async fn start_on(db: TestDatabase, options: Options) -> App {
    let studio = Studio::bind(db.db().await, db.config(), options)
        .await
        .expect("binding the studio");
    let host = format!("127.0.0.1:{}", studio.address().port());
    let login = studio.login_url();
    App {
        router: studio.router(),
        db,
        host,
        login,
        cookie: None,
        csrf: None,
    }
}

/// The CSRF token a page carries in its forms.
pub fn csrf_of(body: &str) -> Option<String> {
    let start = body.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(body[start..].split('"').next()?.to_string())
}

impl App {
    pub async fn conn(&self) -> AsyncPgConnection {
        self.db.connect().await
    }

    /// A studio over a seeded database, logged in as the browser that
    /// opened the printed address.
    pub async fn logged_in(write: bool) -> Self {
        let mut app = start(write).await;
        app.log_in().await;
        app
    }

    pub async fn log_in(&mut self) {
        let path = self
            .login
            .split_once(&self.host)
            .expect("host in the URL")
            .1
            .to_string();
        let reply = self.send(Method::GET, &path, &[], None).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let cookie = reply.headers[header::SET_COOKIE].to_str().expect("ascii");
        self.cookie = Some(cookie.split(';').next().expect("name=value").to_string());
        let page = self.get("/sql").await;
        self.csrf = csrf_of(&page.body);
        assert!(self.csrf.is_some(), "no CSRF token in {}", page.body);
    }

    /// A request with this app's Host and cookie; `headers` are added.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        form: Option<&[(&str, &str)]>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        let has = |name: &str| headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(name));
        if !has("host") {
            request = request.header(header::HOST, &self.host);
        }
        if let Some(cookie) = &self.cookie
            && !has("cookie")
        {
            request = request.header(header::COOKIE, cookie);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match form {
            Some(fields) => {
                request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(fields)
                        .finish(),
                )
            }
            None => Body::empty(),
        };
        let response = tokio::time::timeout(
            Duration::from_secs(60),
            self.router
                .clone()
                .oneshot(request.body(body).expect("request")),
        )
        .await
        .expect("the studio answered in time")
        .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], None).await
    }

    /// Stages one edit and applies what is staged, as a user clicking
    /// "apply" would; fails the test when either step is refused.
    pub async fn stage_and_apply(&self, fields: &[(&str, &str)]) {
        let reply = self.post("/edits", fields).await;
        assert_eq!(
            reply.status,
            StatusCode::SEE_OTHER,
            "{fields:?}: {}",
            reply.body
        );
        assert_eq!(
            self.post("/changes/apply", &[]).await.status,
            StatusCode::OK
        );
    }

    /// A form POSTed from the studio's own page: same Origin, CSRF field.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let origin = format!("http://{}", self.host);
        let csrf = self.csrf.clone().expect("logged in");
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf", &csrf));
        self.send(Method::POST, path, &[("origin", &origin)], Some(&all))
            .await
    }
}
