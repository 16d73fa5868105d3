#![doc = include_str!("../README.md")]

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tokio::net::TcpListener;

mod assets;
mod browse;
mod edits;
mod error;
mod layout;
mod pages;
mod render;
pub mod security;
mod state;

pub use error::StudioError;
pub use state::Mode;

use pages::{export, health, library, schema, sql, tables};
use state::{AppState, Shared};

/// How the studio is served.
#[derive(Debug, Clone)]
pub struct Options {
    /// The address to listen on: loopback unless `allow_non_loopback`.
    pub ip: IpAddr,
    /// 0 for any free port.
    pub port: u16,
    /// May the studio change the database (never one marked production)?
    pub write: bool,
    /// Listening on an address other than loopback must be asked for.
    pub allow_non_loopback: bool,
    /// Per statement, for every transaction.
    pub statement_timeout: Duration,
    /// The most rows the SQL console shows.
    pub row_cap: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            write: false,
            allow_non_loopback: false,
            statement_timeout: Duration::from_secs(5),
            row_cap: 1000,
        }
    }
}

/// Why the studio could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "{0} is not a loopback address: pass --allow-non-loopback to serve the studio to other machines"
    )]
    NotLoopback(IpAddr),
    #[error("{0} would listen on every network: name the one address to listen on")]
    Unspecified(IpAddr),
    #[error("could not listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("could not read the production mark: {0}")]
    Mark(#[source] StudioError),
}

/// A studio bound to its address, ready to serve.
pub struct Studio {
    state: Shared,
    listener: TcpListener,
    address: SocketAddr,
}

impl Studio {
    /// Binds the address and reads the production mark: a marked database
    /// is read-only even with `write`.
    pub async fn bind(
        db: db::Db,
        config: db::DbConfig,
        options: Options,
    ) -> Result<Self, StartError> {
        if options.ip.is_unspecified() {
            return Err(StartError::Unspecified(options.ip));
        }
        if !options.ip.is_loopback() && !options.allow_non_loopback {
            return Err(StartError::NotLoopback(options.ip));
        }
        let requested = SocketAddr::new(options.ip, options.port);
        let listener = TcpListener::bind(requested)
            .await
            .map_err(|source| StartError::Listen {
                address: requested,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| StartError::Listen {
            address: requested,
            source,
        })?;
        let marked = {
            let mut conn = db.get().await.map_err(|e| StartError::Mark(e.into()))?;
            schema_engine::mark::read(&mut conn)
                .await
                .map_err(|e| StartError::Mark(e.into()))?
                .is_some()
        };
        let mode = match (marked, options.write) {
            (true, _) => Mode::Production,
            (false, true) => Mode::Write,
            (false, false) => Mode::ReadOnly,
        };
        let guard = security::Guard::new(address.ip(), address.port());
        let state = Arc::new(AppState::new(
            db,
            config,
            mode,
            guard,
            options.statement_timeout,
            options.row_cap,
        ));
        Ok(Self {
            state,
            listener,
            address,
        })
    }

    /// What the studio may do to the database.
    pub fn mode(&self) -> Mode {
        self.state.mode
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The address to open, with the one-time token.
    pub fn login_url(&self) -> String {
        let host = match self.address.ip() {
            ip if ip.is_loopback() && ip.is_ipv4() => "127.0.0.1".to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        format!(
            "http://{host}:{}{}?token={}",
            self.address.port(),
            security::LOGIN_PATH,
            self.state.guard.token().unwrap_or_default()
        )
    }

    /// The application, for serving or for calling in tests.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = router(self.state.clone());
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// The statement a table page sends for `table` with these query-string
/// parameters (filters, sort, position, limit), and its text parameters
/// (`$1`, `$2`, ... cast by the statement); for checking its plan.
#[doc(hidden)]
pub fn table_page_statement(
    schema: &schema_engine::catalog::Schema,
    table: &str,
    params: &[(String, String)],
) -> Result<(String, Vec<Option<String>>), StudioError> {
    let table = browse::table(schema, table)?;
    let listing = browse::Listing::from_params(params)?;
    let sql = browse::page_sql(table, &listing, Some(listing.limit + 1))?;
    Ok((sql.text, sql.params))
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(tables::index))
        .route("/tables/{name}", get(tables::table))
        .route("/tables/{name}/row", get(tables::row))
        .route("/tables/{name}/new", get(edits::new_row))
        .route("/tables/{name}/{file}", get(export::export))
        .route("/library", get(library::users))
        .route("/library/{user}", get(library::library))
        .route("/videos/{id}", get(library::video))
        .route("/queue", get(library::queue))
        .route("/schema", get(schema::schema))
        .route("/sql", get(sql::form).post(sql::run))
        .route("/health", get(health::health))
        .route("/edits", post(edits::post_edit))
        .route("/changes", get(edits::changes))
        .route("/changes/apply", post(edits::apply))
        .route("/changes/discard", post(edits::discard))
        .route("/changes/{index}/remove", post(edits::remove))
        .route("/assets/{file}", get(assets::asset))
        .fallback(|| async {
            StudioError::NotFound("there is no such page".into())
        })
        .method_not_allowed_fallback(|| async {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                layout::error_page(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "this address does not take that method (changes are POSTed from the studio's forms)",
                ),
            )
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), security::guard))
        .with_state(state)
}
