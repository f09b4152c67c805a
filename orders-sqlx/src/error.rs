//! sqlx errors to the store port's errors, in one place.
//!
//! Unique violations map by constraint name where the backend reports one
//! (PostgreSQL) and by the statement's own unique field otherwise (SQLite
//! names no constraint; each insert knows which unique field it can break).
//! Connection and pool failures are [`StoreError::Unavailable`]; everything
//! else is [`StoreError::Backend`].

use orders_core::ports::StoreError;

/// Why opening or migrating a store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL names no backend this build supports.
    #[error("unsupported database URL (expected sqlite:// or postgres://): {0}")]
    UnsupportedUrl(String),
    /// The URL names a backend whose cargo feature is off.
    #[error("this build of orders-sqlx has no {0} support (enable its cargo feature)")]
    FeatureDisabled(&'static str),
    /// The database refused or could not be reached.
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    /// A host's pool the store cannot share (the reason says which setting
    /// to change).
    #[error("the host's pool does not suit the store: {0}")]
    HostPool(String),
    /// A migration failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// What a transaction body fails with: a port error to return as is, or a
/// database error that may be worth retrying.
#[derive(Debug)]
pub(crate) enum Fail {
    Store(StoreError),
    Db(sqlx::Error),
    /// An error of the SQLite writer's inline connection (`sqlite::inline`).
    #[cfg(feature = "sqlite")]
    Lite(rusqlite::Error),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<sqlx::Error> for Fail {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e)
    }
}

impl Fail {
    /// A deadlock, a serialization failure or a busy database: the whole
    /// transaction may simply be run again.
    pub(crate) fn is_retryable(&self) -> bool {
        #[cfg(feature = "sqlite")]
        if let Self::Lite(rusqlite::Error::SqliteFailure(e, _)) = self {
            return matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            );
        }
        let Self::Db(sqlx::Error::Database(db)) = self else {
            return false;
        };
        match db.code().as_deref() {
            // PostgreSQL: serialization_failure, deadlock_detected.
            Some("40001" | "40P01") => true,
            // SQLite: SQLITE_BUSY and its extended codes, SQLITE_LOCKED.
            Some(code) => matches!(code, "5" | "6" | "261" | "517" | "773" | "262"),
            None => false,
        }
    }

    /// The port error, naming `unique` for a unique violation.
    pub(crate) fn into_store(self, unique: &'static str) -> StoreError {
        match self {
            Self::Store(e) => e,
            Self::Db(e) => db(e, unique),
            #[cfg(feature = "sqlite")]
            Self::Lite(e) => lite(&e, unique),
        }
    }
}

/// The port error of a database error; `unique` names the field a unique
/// violation of this statement means, when the backend names no constraint.
pub(crate) fn db(error: sqlx::Error, unique: &'static str) -> StoreError {
    match error {
        sqlx::Error::Database(e) if e.is_unique_violation() => {
            StoreError::Duplicate(e.constraint().and_then(constraint_field).unwrap_or(unique))
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => StoreError::Unavailable(error.to_string()),
        other => StoreError::Backend(other.to_string()),
    }
}

/// The port error of an inline SQLite error, as [`db`] maps sqlx's: a
/// unique or primary key violation is `Duplicate(unique)`.
#[cfg(feature = "sqlite")]
fn lite(error: &rusqlite::Error, unique: &'static str) -> StoreError {
    const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;
    const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;
    match error {
        rusqlite::Error::SqliteFailure(e, _)
            if matches!(
                e.extended_code,
                SQLITE_CONSTRAINT_PRIMARYKEY | SQLITE_CONSTRAINT_UNIQUE
            ) =>
        {
            StoreError::Duplicate(unique)
        }
        other => StoreError::Backend(other.to_string()),
    }
}

/// The port error of a database error outside any unique insert.
pub(crate) fn any(error: sqlx::Error) -> StoreError {
    db(error, "record")
}

/// A column that does not decode.
pub(crate) fn decode(error: sqlx::Error) -> StoreError {
    StoreError::Backend(error.to_string())
}

/// The store's unique constraints (PostgreSQL names them in errors), each
/// with the field it guards.
const UNIQUE_CONSTRAINTS: &[(&str, &str)] = &[
    ("orders_products_sku_key", "sku"),
    ("orders_products_id_key", "sku"),
    ("orders_discounts_code_key", "code"),
    ("orders_carts_pkey", "cart"),
    ("orders_orders_id_key", "order"),
    ("orders_orders_pkey", "order"),
    ("orders_idempotency_keys_pkey", "idempotency_key"),
];

/// The field a named unique constraint of the store guards; a host's own
/// constraints (its `products_sku_key`, say) name none.
fn constraint_field(name: &str) -> Option<&'static str> {
    UNIQUE_CONSTRAINTS
        .iter()
        .find(|(constraint, _)| *constraint == name)
        .map(|(_, field)| *field)
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    /// Every constraint the errors map is one the PostgreSQL schema
    /// defines: named in it, or the primary key PostgreSQL names after a
    /// table it creates.
    #[test]
    fn the_mapped_constraints_are_the_schemas() {
        let (_, schema) = crate::migrations::POSTGRES_BASELINE;
        for (name, _) in super::UNIQUE_CONSTRAINTS {
            let named = schema.contains(&format!("CONSTRAINT {name} "));
            let primary = name.strip_suffix("_pkey").is_some_and(|table| {
                schema
                    .split_once(&format!("CREATE TABLE {table} ("))
                    .and_then(|(_, body)| body.split_once("\n);"))
                    .is_some_and(|(columns, _)| columns.contains("PRIMARY KEY"))
            });
            assert!(named || primary, "{name} is not in the schema");
        }
        assert_eq!(super::constraint_field("products_sku_key"), None);
        assert_eq!(
            super::constraint_field("orders_products_sku_key"),
            Some("sku")
        );
    }
}
