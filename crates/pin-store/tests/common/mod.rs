//! Shared by the store's integration tests: run each test body on both backends.

pub use pin_store::testing::{Backend, TestDatabase};

/// Defines a module `$name` holding two tests, `sqlite` and `postgres`, that each give
/// `$body` (default: the function named `$name`) a fresh database of that kind.
///
/// ```ignore
/// async fn inserts_read_back(db: &TestDatabase) { ... }
/// both_backends!(inserts_read_back);
/// ```
macro_rules! both_backends {
    ($name:ident) => {
        both_backends!($name, $name);
    };
    ($name:ident, $body:ident) => {
        mod $name {
            use super::common::{Backend, TestDatabase};

            #[tokio::test]
            async fn sqlite() {
                let database = TestDatabase::new(Backend::Sqlite).await;
                super::$body(&database).await;
            }

            #[tokio::test]
            async fn postgres() {
                let database = TestDatabase::new(Backend::Postgres).await;
                super::$body(&database).await;
            }
        }
    };
}

pub(crate) use both_backends;
