//! The PostgreSQL database of `storage.url`: how to reach it (TLS or not, timeouts) and one
//! connection pool per process, shared by the face sets, the camera pool's lease rounds, the
//! camera API and the CLI. The change listener keeps its own connection (`LISTEN` needs one
//! that is not handed around).
//!
//! The pool is r2d2 over rust-postgres's synchronous client: a connection is tested when taken
//! (one empty query) and a broken one is replaced, so a restarted database costs callers one
//! reconnect, not an error each.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use postgres::config::SslMode;
use postgres::{Client, Config};
use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::postgres::{migrate, off_runtime};
use crate::config::StorageConfig;
use crate::search::error::SetError;

type Manager = PostgresConnectionManager<MakeRustlsConnect>;
/// A connection taken from the pool; back in the pool when dropped.
pub type Conn = r2d2::PooledConnection<Manager>;

/// Connecting gives up after this unless the URL says otherwise (`connect_timeout=`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection whose peer stopped answering (a cut network, no reset) fails after this instead
/// of hanging a search or a lease round.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(5);
/// Waiting for a pooled connection (a free one, or a new one while the database is away) gives up
/// after this: an API call then answers a storage error rather than hanging.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(3);

/// A database: its connection settings and the process's pool for it. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    config: Config,
    tls: MakeRustlsConnect,
    pool: r2d2::Pool<Manager>,
    /// Shown in errors and logs: the URL without its password.
    pub shown: String,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Database({})", self.shown)
    }
}

/// The URL with any password replaced, for messages.
fn without_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let user = &url[s + 3..at];
            match user.split_once(':') {
                Some((name, _)) => format!("{}{name}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Database {
    /// The process's database for `storage` (one pool per URL and TLS setting), its schema
    /// migrated the first time.
    pub fn shared(storage: &StorageConfig) -> Result<Database, SetError> {
        static OPEN: OnceLock<Mutex<HashMap<String, Database>>> = OnceLock::new();
        let key = format!(
            "{}|{}|{:?}|{:?}|{:?}|{}",
            storage.url,
            storage.tls,
            storage.tls_ca_file,
            storage.tls_cert,
            storage.tls_key,
            storage.pool_size
        );
        let mut open = OPEN
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(db) = open.get(&key) {
            return Ok(db.clone());
        }
        let db = Database::open(storage)?;
        let applied = off_runtime(|| migrate(&mut *db.get()?))?;
        if !applied.is_empty() {
            tracing::info!(?applied, database = %db.shown, "database schema migrated");
        }
        open.insert(key, db.clone());
        Ok(db)
    }

    /// A new pool for `storage`, its schema as it is (most callers want [`Database::shared`]).
    pub fn open(storage: &StorageConfig) -> Result<Database, SetError> {
        let shown = without_password(&storage.url);
        let bad = |m: String| SetError::Storage(format!("storage.url {shown}: {m}"));
        let mut config: Config = storage
            .url
            .parse()
            .map_err(|e| bad(format!("not a PostgreSQL URL: {e}")))?;
        // TLS is asked for by storage.tls or by sslmode=require in the URL; "prefer" (the URL's
        // default) means plain, so a server's self-signed certificate never half-works.
        let tls_on = storage.tls || config.get_ssl_mode() == SslMode::Require;
        config.ssl_mode(if tls_on {
            SslMode::Require
        } else {
            SslMode::Disable
        });
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
        config.keepalives_idle(Duration::from_secs(5));
        let client_cert = match (&storage.tls_cert, &storage.tls_key) {
            (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
            _ => None,
        };
        let rustls = if tls_on {
            crate::tls::client_config(storage.tls_ca_file.as_deref(), client_cert)
        } else {
            crate::tls::client_config_unused()
        }
        .map_err(|e| SetError::Storage(format!("storage.tls: {e}")))?;
        let tls = MakeRustlsConnect::new(rustls);
        let pool = r2d2::Pool::builder()
            .max_size(storage.pool_size)
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .build_unchecked(PostgresConnectionManager::new(config.clone(), tls.clone()));
        Ok(Database {
            config,
            tls,
            pool,
            shown,
        })
    }

    /// A connection of its own, outside the pool (the change listener's).
    pub fn connect(&self) -> Result<Client, SetError> {
        let (config, tls) = (&self.config, self.tls.clone());
        off_runtime(move || config.connect(tls)).map_err(|e| {
            SetError::Storage(format!(
                "storage.url {}: cannot connect: {}",
                self.shown,
                super::postgres::describe(&e)
            ))
        })
    }

    /// A pooled connection (call off any tokio runtime: see `off_runtime`).
    pub fn get(&self) -> Result<Conn, SetError> {
        self.get_within(CHECKOUT_TIMEOUT)
    }

    /// A pooled connection, or an error once `wait` has passed (the lease rounds must not wait
    /// past their leases).
    pub fn get_within(&self, wait: Duration) -> Result<Conn, SetError> {
        self.pool.get_timeout(wait).map_err(|e| {
            SetError::Storage(format!(
                "storage.url {}: no database connection within {:.1} s: {e}",
                self.shown,
                wait.as_secs_f64()
            ))
        })
    }

    /// Connections open now (idle or in use), for tests and health.
    pub fn connections(&self) -> u32 {
        self.pool.state().connections
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            without_password("postgres://fs:secret@db:5432/x"),
            "postgres://fs:***@db:5432/x"
        );
        assert_eq!(without_password("postgres://fs@db/x"), "postgres://fs@db/x");
        assert_eq!(without_password("postgres://db/x"), "postgres://db/x");
    }

    #[test]
    fn a_bad_url_names_the_key() {
        let storage = StorageConfig {
            url: "postgres://a:b@host:notaport/x".into(),
            ..Default::default()
        };
        let e = Database::open(&storage).unwrap_err().to_string();
        assert!(e.contains("storage.url") && !e.contains(":b@"), "{e}");
    }
}
