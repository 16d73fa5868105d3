//! Editing with --write: staged edits tried and shown as SQL, applied in
//! one transaction, through the application's own rules for its tables.

mod common;

use axum::http::StatusCode;
use common::App;
use diesel_async::SimpleAsyncConnection;
use local_pg::harness::{count, snapshot};

async fn title_of(app: &App, id: &str) -> i64 {
    count(
        &mut app.conn().await,
        &format!(
            "SELECT count(*) AS count FROM video_summary WHERE id = '{id}' AND title = 'Renamed'"
        ),
    )
    .await
}

#[tokio::test]
async fn an_edit_is_staged_as_sql_and_applied_on_confirmation() {
    let app = App::logged_in(true).await;
    let before = snapshot(&mut app.conn().await).await;
    let reply = app
        .post(
            "/edits",
            &[
                ("kind", "video_details"),
                ("user_id", "u1"),
                ("id", "v1"),
                ("title", "  Renamed "),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let changes = app.get("/changes").await.body;
    assert!(
        changes.contains("video v1: title = &quot;Renamed&quot;"),
        "{changes}"
    );
    assert!(
        changes.contains("UPDATE &quot;video_summary&quot; SET &quot;title&quot; = $1"),
        "{changes}"
    );
    assert!(changes.contains("Renamed"), "the binds are shown");
    assert_eq!(
        snapshot(&mut app.conn().await).await,
        before,
        "staging changes nothing"
    );
    let applied = app.post("/changes/apply", &[]).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    assert!(applied.body.contains("Applied 1 change"));
    assert_eq!(title_of(&app, "v1").await, 1);
    assert!(app.get("/changes").await.body.contains("Nothing is staged"));
}

#[tokio::test]
async fn what_the_application_refuses_is_not_staged() {
    let app = App::logged_in(true).await;
    let refusals = [
        (
            vec![
                ("kind", "video_details"),
                ("user_id", "u1"),
                ("id", "v1"),
                ("title", "   "),
            ],
            "title: must not be empty",
        ),
        (
            vec![
                ("kind", "video_details"),
                ("user_id", "u1"),
                ("id", "v1"),
                ("duration", "-5"),
            ],
            "duration: -5 is negative",
        ),
        (
            vec![
                ("kind", "video_status"),
                ("user_id", "u1"),
                ("id", "v1"),
                ("status", "completed"),
            ],
            "cannot move from pending to completed",
        ),
        (
            vec![
                ("kind", "video_status"),
                ("user_id", "u1"),
                ("id", "v3"),
                ("status", "processing"),
            ],
            "not found",
        ),
        (
            vec![
                ("kind", "add_tag"),
                ("user_id", "u1"),
                ("id", "v1"),
                ("name", "   "),
            ],
            "tag",
        ),
        (
            vec![
                ("kind", "cell"),
                ("table", "video_summary"),
                ("column", "title"),
                ("value", "x"),
                ("k.id", "v1"),
            ],
            "the application's table",
        ),
    ];
    for (fields, reason) in refusals {
        let reply = app.post("/edits", &fields).await;
        assert!(
            reply.status.is_client_error(),
            "{fields:?}: {}",
            reply.status
        );
        assert!(reply.body.contains(reason), "{fields:?}: {}", reply.body);
    }
    assert!(app.get("/changes").await.body.contains("Nothing is staged"));
}

#[tokio::test]
async fn labels_are_normalised_by_the_application() {
    let app = App::logged_in(true).await;
    let reply = app
        .post(
            "/edits",
            &[
                ("kind", "add_tag"),
                ("user_id", "u1"),
                ("id", "v1"),
                ("name", "  Machine   Learning "),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    app.stage_and_apply(&[
        ("kind", "remove_tag"),
        ("user_id", "u1"),
        ("id", "v1"),
        ("name", "RUST"),
    ])
    .await;
    let mut conn = app.conn().await;
    let tagged = |name: &str| {
        format!(
            "SELECT count(*) AS count FROM video_summary_tag l JOIN tag t ON t.id = l.tag_id \
             WHERE l.video_summary_id = 'v1' AND t.name = '{name}'"
        )
    };
    assert_eq!(count(&mut conn, &tagged("machine learning")).await, 1);
    assert_eq!(count(&mut conn, &tagged("rust")).await, 0);
}

#[tokio::test]
async fn a_delete_first_shows_what_the_cascades_take() {
    let app = App::logged_in(true).await;
    let reply = app
        .post("/edits", &[("kind", "delete_user"), ("id", "u1")])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let changes = app.get("/changes").await.body;
    for line in [
        "2 video_summary rows: deleted too",
        "2 keyframe rows: deleted too",
        "3 video_summary_tag rows: deleted too",
        "1 video_summary_category row: deleted too",
    ] {
        assert!(changes.contains(line), "{line}: {changes}");
    }
    let mut conn = app.conn().await;
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM \"user\" WHERE id = 'u1'"
        )
        .await,
        1
    );
    assert_eq!(app.post("/changes/apply", &[]).await.status, StatusCode::OK);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM \"user\" WHERE id = 'u1'"
        )
        .await,
        0
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS count FROM keyframe").await,
        0
    );
}

#[tokio::test]
async fn other_tables_take_cell_edits_inserts_and_deletes() {
    let app = App::logged_in(true).await;
    let mut conn = app.conn().await;
    conn.batch_execute("CREATE TABLE note (id int PRIMARY KEY, body text, seen boolean NOT NULL DEFAULT false); INSERT INTO note VALUES (1, 'one', false), (2, 'two', false)")
        .await
        .expect("a foreign table");
    let staged = [
        vec![
            ("kind", "cell"),
            ("table", "note"),
            ("column", "body"),
            ("value", "uno"),
            ("k.id", "1"),
        ],
        vec![
            ("kind", "cell"),
            ("table", "note"),
            ("column", "body"),
            ("null", "1"),
            ("k.id", "2"),
        ],
        vec![
            ("kind", "insert_row"),
            ("table", "note"),
            ("v.id", "3"),
            ("v.body", "three"),
            ("v.seen", ""),
        ],
        vec![("kind", "delete_row"), ("table", "note"), ("k.id", "2")],
    ];
    for fields in &staged {
        let reply = app.post("/edits", fields).await;
        assert_eq!(
            reply.status,
            StatusCode::SEE_OTHER,
            "{fields:?}: {}",
            reply.body
        );
    }
    let refused = app
        .post(
            "/edits",
            &[
                ("kind", "cell"),
                ("table", "note"),
                ("column", "seen"),
                ("value", "maybe"),
                ("k.id", "1"),
            ],
        )
        .await;
    assert!(
        refused
            .body
            .contains("invalid input syntax for type boolean"),
        "{}",
        refused.body
    );
    let missing = app
        .post(
            "/edits",
            &[("kind", "delete_row"), ("table", "note"), ("k.id", "9")],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
    assert_eq!(app.post("/changes/apply", &[]).await.status, StatusCode::OK);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM note WHERE id = 1 AND body = 'uno'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS count FROM note WHERE id = 3 AND body = 'three' AND NOT seen"
        )
        .await,
        1
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS count FROM note").await,
        2
    );
}

#[tokio::test]
async fn changes_apply_all_or_nothing() {
    let app = App::logged_in(true).await;
    for id in ["v2", "v1"] {
        let reply = app
            .post(
                "/edits",
                &[
                    ("kind", "video_details"),
                    ("user_id", "u1"),
                    ("id", id),
                    ("title", "Renamed"),
                ],
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
    }
    // Someone deletes v1 before the changes are applied.
    app.conn()
        .await
        .batch_execute("DELETE FROM video_summary WHERE id = 'v1'")
        .await
        .expect("delete");
    let reply = app.post("/changes/apply", &[]).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert!(reply.body.contains("Nothing was applied"), "{}", reply.body);
    assert_eq!(
        title_of(&app, "v2").await,
        0,
        "the first change was rolled back with the second"
    );
    // The staged changes stay, to unstage or discard.
    assert!(app.get("/changes").await.body.contains("video v2"));
    assert_eq!(
        app.post("/changes/0/remove", &[]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.post("/changes/discard", &[]).await.status,
        StatusCode::SEE_OTHER
    );
    assert!(app.get("/changes").await.body.contains("Nothing is staged"));
}

#[tokio::test]
async fn a_new_video_is_saved_as_the_application_saves_one() {
    let app = App::logged_in(true).await;
    for (url, title, reason) in [
        ("https://vimeo.com/123", "A talk", "youtube_url"),
        ("https://youtu.be/aaaaaaaaaaa", "Again", "already exists"),
        ("https://youtu.be/ccccccccccc", " ", "title"),
    ] {
        let reply = app
            .post(
                "/edits",
                &[
                    ("kind", "new_video"),
                    ("user_id", "u1"),
                    ("youtube_url", url),
                    ("title", title),
                ],
            )
            .await;
        assert!(reply.status.is_client_error(), "{url}: {}", reply.status);
        assert!(reply.body.contains(reason), "{url}: {}", reply.body);
    }
    app.stage_and_apply(&[
        ("kind", "new_video"),
        ("user_id", "u1"),
        (
            "youtube_url",
            "https://www.youtube.com/watch?v=ccccccccccc&t=42s",
        ),
        ("title", "A talk"),
    ])
    .await;
    let saved = "SELECT count(*) AS count FROM video_summary WHERE user_id = 'u1' AND youtube_id = 'ccccccccccc' AND processing_status = 'pending'";
    assert_eq!(count(&mut app.conn().await, saved).await, 1);
}

#[tokio::test]
async fn a_new_user_is_created_as_the_application_creates_one() {
    let app = App::logged_in(true).await;
    assert!(app.get("/library").await.body.contains("Add a user"));
    for (name, email, reason) in [
        (" ", "new@example.com", "name"),
        ("New", "not an address", "not an email address"),
        ("New", "ann@example.com", "already exists"),
    ] {
        let reply = app
            .post(
                "/edits",
                &[("kind", "new_user"), ("name", name), ("email", email)],
            )
            .await;
        assert!(reply.status.is_client_error(), "{email}: {}", reply.status);
        assert!(reply.body.contains(reason), "{email}: {}", reply.body);
    }
    app.stage_and_apply(&[
        ("kind", "new_user"),
        ("name", "New Person"),
        ("email", "new.person@example.com"),
    ])
    .await;
    let created = "SELECT count(*) AS count FROM \"user\" WHERE email = 'new.person@example.com' AND name = 'New Person' AND length(id) = 21";
    assert_eq!(count(&mut app.conn().await, created).await, 1);
}

#[tokio::test]
async fn a_read_only_studio_offers_no_new_user() {
    let app = App::logged_in(false).await;
    assert!(!app.get("/library").await.body.contains("Add a user"));
    let reply = app
        .post(
            "/edits",
            &[
                ("kind", "new_user"),
                ("name", "New Person"),
                ("email", "new.person@example.com"),
            ],
        )
        .await;
    assert!(reply.status.is_client_error(), "{}", reply.status);
}

#[tokio::test]
async fn users_and_labels_are_edited_through_the_data_layer() {
    let app = App::logged_in(true).await;
    assert!(app.get("/library/u1").await.body.contains("user_profile"));
    assert!(
        app.get("/tables/tag/row?k.id=t1")
            .await
            .body
            .contains("rename_tag")
    );
    for (fields, reason) in [
        (
            vec![
                ("kind", "user_profile"),
                ("id", "u1"),
                ("name", "Ann"),
                ("email", "bob@example.com"),
            ],
            "already exists",
        ),
        (
            vec![("kind", "rename_tag"), ("id", "t1"), ("name", " SQL ")],
            "already exists",
        ),
        (
            vec![("kind", "rename_tag"), ("id", "t1"), ("name", "  ")],
            "empty",
        ),
    ] {
        let reply = app.post("/edits", &fields).await;
        assert!(
            reply.status.is_client_error(),
            "{fields:?}: {}",
            reply.status
        );
        assert!(reply.body.contains(reason), "{fields:?}: {}", reply.body);
    }
    for fields in [
        vec![
            ("kind", "user_profile"),
            ("id", "u1"),
            ("name", "Ann B."),
            ("email", "ann.b@example.com"),
        ],
        vec![
            ("kind", "rename_tag"),
            ("id", "t1"),
            ("name", "  Rust  Lang "),
        ],
        vec![("kind", "delete_tag"), ("id", "t2")],
    ] {
        let reply = app.post("/edits", &fields).await;
        assert_eq!(
            reply.status,
            StatusCode::SEE_OTHER,
            "{fields:?}: {}",
            reply.body
        );
    }
    assert_eq!(app.post("/changes/apply", &[]).await.status, StatusCode::OK);
    let mut conn = app.conn().await;
    let edited = "SELECT count(*) AS count FROM \"user\" WHERE id = 'u1' AND name = 'Ann B.' AND email = 'ann.b@example.com'";
    assert_eq!(count(&mut conn, edited).await, 1);
    let tags =
        "SELECT count(*) AS count FROM tag WHERE (id = 't1' AND name = 'rust lang') OR id = 't2'";
    assert_eq!(count(&mut conn, tags).await, 1);
    let links = "SELECT count(*) AS count FROM video_summary_tag WHERE tag_id = 't2'";
    assert_eq!(count(&mut conn, links).await, 0);
}
