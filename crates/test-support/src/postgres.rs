//! Scratch PostgreSQL databases for adapter tests: one fresh database per test in a
//! running cluster that `PORTICO_TEST_POSTGRES_URL` names (for example
//! `postgres://postgres@127.0.0.1:54329/postgres`, as `.ci/postgres start` and
//! `make test-postgres` provide), dropped when the test is done with it.
//!
//! Without the variable the PostgreSQL suites cannot run: [`TestCluster::from_env`]
//! says so on the terminal, naming the suite, and the test passes, so that
//! `cargo test --workspace` works on a machine without PostgreSQL. CI sets
//! `PORTICO_TEST_POSTGRES_REQUIRED=1` as well, which turns a missing URL into a failure:
//! CI never skips them.

#[cfg(feature = "postgres")]
use diesel::{Connection as _, RunQueryDsl as _, pg::PgConnection};
#[cfg(feature = "postgres")]
use uuid::Uuid;

/// The variable naming the cluster: a URL of a database the tests may connect to as a
/// user allowed to create databases.
pub const URL_VARIABLE: &str = "PORTICO_TEST_POSTGRES_URL";
/// Set to `1` where a missing [`URL_VARIABLE`] must fail the tests instead of skipping.
pub const REQUIRED_VARIABLE: &str = "PORTICO_TEST_POSTGRES_REQUIRED";

/// A running PostgreSQL cluster to make scratch databases in.
#[derive(Debug, Clone)]
pub struct TestCluster {
    // Read by `create_database`, behind the `postgres` feature.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    admin_url: String,
}

impl TestCluster {
    /// The cluster [`URL_VARIABLE`] names; otherwise `None`, after writing to the
    /// terminal that `suite` was not run (straight to stderr: the test harness captures
    /// `eprintln!` of passing tests, and this line must be seen).
    ///
    /// # Panics
    /// When [`REQUIRED_VARIABLE`] is `1` and the URL is missing.
    #[must_use]
    pub fn from_env(suite: &str) -> Option<Self> {
        Self::from_settings(
            std::env::var(URL_VARIABLE).ok(),
            std::env::var(REQUIRED_VARIABLE).ok().as_deref(),
            suite,
            &mut std::io::stderr(),
        )
    }

    /// [`TestCluster::from_env`] on the variables' values (`url`, `required`), writing
    /// the "not run" line to `terminal`.
    fn from_settings(
        url: Option<String>,
        required: Option<&str>,
        suite: &str,
        terminal: &mut impl std::io::Write,
    ) -> Option<Self> {
        match url {
            Some(admin_url) if !admin_url.is_empty() => Some(Self { admin_url }),
            _ => {
                assert!(
                    required != Some("1"),
                    "{REQUIRED_VARIABLE}=1 but {URL_VARIABLE} is not set: {suite} must run"
                );
                let _ = writeln!(
                    terminal,
                    "\nNOT RUN: {suite} on PostgreSQL ({URL_VARIABLE} is not set; \
                     `make test-postgres` runs it against a throwaway cluster)"
                );
                None
            }
        }
    }
}

#[cfg(feature = "postgres")]
impl TestCluster {
    /// A new, empty database `test_<uuid>`, dropped when the value is.
    ///
    /// # Panics
    /// When the cluster cannot be reached or refuses to create it: the test cannot run.
    #[must_use]
    pub fn create_database(&self) -> TestDatabase {
        let name = format!("test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(&self.admin_url)
            .expect("cannot reach the cluster PORTICO_TEST_POSTGRES_URL names");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("cannot create a scratch database");
        TestDatabase {
            url: with_database(&self.admin_url, &name),
            name,
            admin_url: self.admin_url.clone(),
        }
    }
}

/// A scratch database, dropped (its connections ended first) with the value.
#[cfg(feature = "postgres")]
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

#[cfg(feature = "postgres")]
impl TestDatabase {
    /// The URL to connect to it.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `sql` on it, as the cluster's administrator would (to end connections, say).
    ///
    /// # Panics
    /// When the statement fails: the test cannot go on.
    pub fn execute(&self, sql: &str) {
        let mut connection =
            PgConnection::establish(&self.url).expect("cannot reach the scratch database");
        diesel::sql_query(sql)
            .execute(&mut connection)
            .expect("the statement failed");
    }
}

#[cfg(feature = "postgres")]
impl TestDatabase {
    /// Makes it refuse new connections and ends the ones it has, as a server going away
    /// would. (From the cluster's administration database: a database cannot refuse
    /// connections on a connection of its own.)
    ///
    /// # Panics
    /// When the cluster refuses: the test cannot go on.
    pub fn refuse_connections(&self) {
        let mut admin = PgConnection::establish(&self.admin_url)
            .expect("cannot reach the cluster PORTICO_TEST_POSTGRES_URL names");
        for sql in [
            format!("ALTER DATABASE {} ALLOW_CONNECTIONS false", self.name),
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
                self.name
            ),
        ] {
            diesel::sql_query(&sql)
                .execute(&mut admin)
                .expect("the cluster refused to close the database");
        }
    }
}

#[cfg(feature = "postgres")]
impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Best effort: a database left behind by a failure is only litter in a
        // throwaway cluster.
        let _ = PgConnection::establish(&self.admin_url).map(|mut admin| {
            diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
        });
    }
}

/// `url` with its database replaced by `database` (the path after the host, before any
/// `?parameters`).
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (location, query) = match rest.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (rest, None),
    };
    let authority = location.split_once('/').map_or(location, |(host, _)| host);
    match query {
        Some(query) => format!("{scheme}://{authority}/{database}?{query}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{TestCluster, with_database};

    /// What a suite asking for the cluster gets, and what it wrote to the terminal.
    fn ask(url: Option<&str>, required: Option<&str>) -> (Option<TestCluster>, String) {
        let mut terminal = Vec::new();
        let cluster = TestCluster::from_settings(
            url.map(str::to_owned),
            required,
            "the example suite",
            &mut terminal,
        );
        (cluster, String::from_utf8(terminal).unwrap())
    }

    #[test]
    fn a_named_cluster_is_used_without_a_word() {
        let (cluster, said) = ask(Some("postgres://postgres@127.0.0.1:5432/postgres"), None);
        assert_eq!(
            cluster.map(|cluster| cluster.admin_url).as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/postgres")
        );
        assert_eq!(said, "");
    }

    #[test]
    fn without_a_cluster_a_suite_says_it_did_not_run_and_how_to_run_it() {
        // An empty variable is no cluster either (`PORTICO_TEST_POSTGRES_URL= cargo test`).
        for (url, required) in [(None, None), (Some(""), None), (None, Some("0"))] {
            let (cluster, said) = ask(url, required);
            assert!(cluster.is_none(), "sent {url:?}, required {required:?}");
            assert!(
                said.contains("NOT RUN: the example suite on PostgreSQL")
                    && said.contains("make test-postgres"),
                "sent {url:?}, required {required:?}: said {said:?}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "PORTICO_TEST_POSTGRES_URL is not set: the example suite must run")]
    fn where_the_suites_are_required_a_missing_cluster_fails_them() {
        let _ = ask(None, Some("1"));
    }

    #[test]
    fn the_database_of_a_url_is_replaced_and_its_parameters_kept() {
        for (url, expected) in [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/test_x",
            ),
            ("postgres://h", "postgres://h/test_x"),
            (
                "postgresql://u:p@h/db?connect_timeout=5",
                "postgresql://u:p@h/test_x?connect_timeout=5",
            ),
        ] {
            assert_eq!(with_database(url, "test_x"), expected, "sent {url}");
        }
    }
}
