//! Every security rule of the studio, against a real database: the token,
//! the Host check, Origin and CSRF on changes, no CORS, no GET that
//! changes anything, and writes refused by the database in read-only mode
//! and on a production database.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use axum::http::{Method, StatusCode};
use common::{App, start, start_on};
use local_pg::harness::snapshot;
use studio::{Mode, Options, StartError, Studio};

/// A change the application accepts: a new title for Ann's video v1.
const RETITLE: [(&str, &str); 5] = [
    ("kind", "video_details"),
    ("user_id", "u1"),
    ("id", "v1"),
    ("title", "A new title"),
    ("description", ""),
];

#[tokio::test]
async fn without_the_token_every_request_is_refused() {
    let mut app = start(false).await;
    for path in [
        "/",
        "/tables/user",
        "/assets/studio.css",
        "/sql",
        "/changes",
    ] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(!reply.body.contains("ann@example.com"), "{path}");
    }
    // A made-up cookie is no session.
    let name = format!("mv_studio_{}", app.host.rsplit(':').next().expect("port"));
    let forged = format!("{name}=00");
    let reply = app
        .send(Method::GET, "/", &[("cookie", &forged)], None)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // A wrong token is refused and does not use up the real one.
    let reply = app.get("/login?token=0123").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    app.log_in().await;
    assert_eq!(app.get("/").await.status, StatusCode::OK);
    // The token works once.
    let path = app.login.split_once(&app.host).expect("host").1.to_string();
    let again = app.send(Method::GET, &path, &[("cookie", "")], None).await;
    assert_eq!(again.status, StatusCode::FORBIDDEN, "{}", again.body);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_strict() {
    let app = start(false).await;
    let path = app.login.split_once(&app.host).expect("host").1.to_string();
    let reply = app.send(Method::GET, &path, &[], None).await;
    let cookie = reply.headers["set-cookie"].to_str().expect("ascii");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    // The token leaves the address bar at once.
    assert_eq!(reply.headers["location"], "/");
}

#[tokio::test]
async fn a_host_other_than_a_loopback_name_is_refused() {
    let mut app = start(false).await;
    let port = app.host.rsplit(':').next().expect("port").to_string();
    let path = app.login.split_once(&app.host).expect("host").1.to_string();
    // DNS rebinding: the right address under another name, even with the token.
    let rebound = format!("attacker.example:{port}");
    let reply = app
        .send(Method::GET, &path, &[("host", &rebound)], None)
        .await;
    assert_eq!(reply.status, StatusCode::MISDIRECTED_REQUEST);
    app.log_in().await;
    for host in [
        rebound.as_str(),
        "127.0.0.1:1",
        "127.0.0.1",
        "localhost.attacker.example",
    ] {
        let reply = app.send(Method::GET, "/", &[("host", host)], None).await;
        assert_eq!(reply.status, StatusCode::MISDIRECTED_REQUEST, "{host}");
    }
    for host in [format!("localhost:{port}"), format!("[::1]:{port}")] {
        let reply = app.send(Method::GET, "/", &[("host", &host)], None).await;
        assert_eq!(reply.status, StatusCode::OK, "{host}");
    }
}

#[tokio::test]
async fn a_cross_origin_post_is_refused() {
    let app = App::logged_in(true).await;
    let before = snapshot(&mut app.conn().await).await;
    let csrf = app.csrf.clone().expect("csrf");
    let mut fields: Vec<(&str, &str)> = RETITLE.to_vec();
    fields.push(("csrf", &csrf));
    for origin in [Some("http://attacker.example"), Some("null"), None] {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("origin", o)).into_iter().collect();
        let reply = app
            .send(Method::POST, "/edits", &headers, Some(&fields))
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{origin:?}");
        assert!(reply.body.contains("cross-origin"), "{}", reply.body);
    }
    assert!(app.get("/changes").await.body.contains("Nothing is staged"));
    assert_eq!(snapshot(&mut app.conn().await).await, before);
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused() {
    let app = App::logged_in(true).await;
    let origin = format!("http://{}", app.host);
    for token in [None, Some("0".repeat(64))] {
        let mut fields: Vec<(&str, &str)> = RETITLE.to_vec();
        if let Some(token) = &token {
            fields.push(("csrf", token));
        }
        let reply = app
            .send(
                Method::POST,
                "/edits",
                &[("origin", &origin)],
                Some(&fields),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{token:?}");
        assert!(reply.body.contains("CSRF"), "{}", reply.body);
    }
    assert!(app.get("/changes").await.body.contains("Nothing is staged"));
    // The same form with the token is staged.
    let reply = app.post("/edits", &RETITLE).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    // htmx sends it as a header instead.
    let csrf = app.csrf.clone().expect("csrf");
    let reply = app
        .send(
            Method::POST,
            "/changes/discard",
            &[("origin", &origin), ("x-csrf-token", &csrf)],
            Some(&[]),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
}

#[tokio::test]
async fn no_response_carries_cors_headers() {
    let app = App::logged_in(true).await;
    let origin = [("origin", "http://attacker.example")];
    let preflight = [
        ("origin", "http://attacker.example"),
        ("access-control-request-method", "POST"),
    ];
    let replies = [
        app.send(Method::GET, "/", &origin, None).await,
        app.send(Method::GET, "/tables/user/export.json", &origin, None)
            .await,
        app.send(Method::OPTIONS, "/sql", &preflight, None).await,
        app.send(Method::OPTIONS, "/edits", &preflight, None).await,
    ];
    for reply in &replies {
        for name in reply.headers.keys() {
            assert!(
                !name.as_str().starts_with("access-control-"),
                "{name} in a response"
            );
        }
    }
    assert_ne!(replies[2].status, StatusCode::OK);
    assert_ne!(replies[3].status, StatusCode::OK);
}

#[tokio::test]
async fn every_response_forbids_framing_and_foreign_scripts() {
    let app = App::logged_in(false).await;
    for path in ["/", "/nowhere", "/login?token=x"] {
        let reply = app.get(path).await;
        let csp = reply.headers["content-security-policy"]
            .to_str()
            .expect("ascii");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(reply.headers["x-frame-options"], "DENY");
        assert_eq!(reply.headers["referrer-policy"], "same-origin");
    }
}

#[tokio::test]
async fn no_get_changes_anything() {
    let app = App::logged_in(true).await;
    let before = snapshot(&mut app.conn().await).await;
    let query = "kind=delete_user&id=u1&user_id=u1&title=x&table=keyframe&k.id=k1";
    for path in [
        format!("/edits?{query}"),
        "/changes/apply".to_string(),
        "/changes/discard".to_string(),
        "/changes/0/remove".to_string(),
    ] {
        let reply = app.get(&path).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
    // A staged edit is applied by POST only.
    assert_eq!(
        app.post("/edits", &RETITLE).await.status,
        StatusCode::SEE_OTHER
    );
    for path in [
        "/changes",
        "/changes/apply",
        "/",
        "/tables/video_summary",
        "/videos/v1",
    ] {
        app.get(path).await;
    }
    assert_eq!(snapshot(&mut app.conn().await).await, before);
    // Every page reads in a READ ONLY transaction: even the console cannot write.
    let reply = app
        .post(
            "/sql",
            &[("sql", "DELETE FROM keyframe"), ("action", "run")],
        )
        .await;
    assert!(
        reply.body.contains("read-only transaction"),
        "{}",
        reply.body
    );
    assert_eq!(snapshot(&mut app.conn().await).await, before);
}

#[tokio::test]
async fn read_only_mode_leaves_the_refusal_to_the_database() {
    let app = App::logged_in(false).await;
    let before = snapshot(&mut app.conn().await).await;
    assert!(app.get("/").await.body.contains("read-only"));
    let reply = app.post("/edits", &RETITLE).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert!(
        reply
            .body
            .contains("cannot execute UPDATE in a read-only transaction"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("--write"), "{}", reply.body);
    assert!(app.get("/changes").await.body.contains("Nothing is staged"));
    let reply = app.post("/changes/apply", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(snapshot(&mut app.conn().await).await, before);
}

#[tokio::test]
async fn a_production_database_is_read_only_even_with_write() {
    let db = common::seeded_db().await;
    schema_engine::mark::mark(
        &mut db.connect().await,
        schema_engine::mark::Environment::Production,
    )
    .await
    .expect("marking");
    let mut app = start_on(
        db,
        Options {
            write: true,
            ..Options::default()
        },
    )
    .await;
    app.log_in().await;
    let before = snapshot(&mut app.conn().await).await;
    assert!(app.get("/").await.body.contains("production: read-only"));
    let reply = app.post("/edits", &RETITLE).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert!(
        reply
            .body
            .contains("cannot execute UPDATE in a read-only transaction"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("production mark"), "{}", reply.body);
    assert_eq!(snapshot(&mut app.conn().await).await, before);
}

#[tokio::test]
async fn a_database_marked_while_the_studio_runs_is_not_changed() {
    let app = App::logged_in(true).await;
    assert_eq!(
        app.post("/edits", &RETITLE).await.status,
        StatusCode::SEE_OTHER
    );
    schema_engine::mark::mark(
        &mut app.conn().await,
        schema_engine::mark::Environment::Production,
    )
    .await
    .expect("marking");
    let before = snapshot(&mut app.conn().await).await;
    let reply = app.post("/changes/apply", &[]).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert!(reply.body.contains("production mark"), "{}", reply.body);
    assert_eq!(snapshot(&mut app.conn().await).await, before);
}

#[tokio::test]
async fn listening_beyond_loopback_must_be_asked_for() {
    let db = common::seeded_db().await;
    let elsewhere = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let refused = Studio::bind(
        db.db().await,
        db.config(),
        Options {
            ip: elsewhere,
            ..Options::default()
        },
    )
    .await;
    assert!(matches!(refused, Err(StartError::NotLoopback(_))));
    let everywhere = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let refused = Studio::bind(
        db.db().await,
        db.config(),
        Options {
            ip: everywhere,
            allow_non_loopback: true,
            ..Options::default()
        },
    )
    .await;
    assert!(matches!(refused, Err(StartError::Unspecified(_))));
    let studio = Studio::bind(db.db().await, db.config(), Options::default())
        .await
        .expect("loopback");
    assert!(studio.address().ip().is_loopback());
    assert_eq!(studio.mode(), Mode::ReadOnly);
    assert!(studio.login_url().starts_with("http://127.0.0.1:"));
}
