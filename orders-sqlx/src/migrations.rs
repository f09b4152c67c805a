//! The embedded migrations, one set per backend.
//!
//! The SQL files under `migrations/sqlite` and `migrations/postgres` are
//! compiled into the crate with `include_str!`, so a binary carries its
//! schema and a clean checkout builds without a database (nor sqlx's
//! proc-macros). Each migration is recorded in `_orders_migrations`
//! ([`HISTORY_TABLE`], not sqlx's default `_sqlx_migrations`, which a host's
//! own migrations may use) with a checksum, as `sqlx::migrate!` would:
//! running them twice is a no-op, and
//! an edited, already-applied file is refused. A test checks this list
//! against the files on disk, so a file cannot be added and forgotten.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
use sqlx::SqlSafeStr;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use sqlx::migrate::{Migrate as _, MigrateError, Migration, MigrationType, Migrator};

/// `(version, description, sql)` of every SQLite migration, in order.
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "schema",
        include_str!("../migrations/sqlite/0001_schema.sql"),
    ),
    (
        2,
        "product_version",
        include_str!("../migrations/sqlite/0002_product_version.sql"),
    ),
];

/// `(version, description, sql)` of every PostgreSQL migration, in order.
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "schema",
        include_str!("../migrations/postgres/0001_schema.sql"),
    ),
    (
        2,
        "place_function",
        include_str!("../migrations/postgres/0002_place_function.sql"),
    ),
    (
        3,
        "place_without_notify",
        include_str!("../migrations/postgres/0003_place_without_notify.sql"),
    ),
    (
        4,
        "product_version",
        include_str!("../migrations/postgres/0004_product_version.sql"),
    ),
    (
        5,
        "place_lines_by_name",
        include_str!("../migrations/postgres/0005_place_lines_by_name.sql"),
    ),
];

/// A migrator over SQL compiled into the binary (`include_str!`), as this
/// crate runs its own: `(version, description, sql)` in order, each a
/// simple (up-only) migration recorded with its checksum.
///
/// A host with migrations of its own in the same database gives them their
/// own history table (`Migrator::dangerous_set_table_name`), since two
/// migrators with different lists on one table refuse each other's
/// versions.
///
/// ```
/// let mut migrator = orders_sqlx::embedded_migrator(&[
///     (1, "users", "CREATE TABLE users (id TEXT PRIMARY KEY)"),
/// ]);
/// migrator.dangerous_set_table_name("host_migrations");
/// assert_eq!(migrator.iter().count(), 1);
/// ```
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub fn embedded_migrator(set: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = set
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                description.into(),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

/// The table the stores record their migrations in: their own, so a host's
/// sqlx migrations keep `_sqlx_migrations` (two migrators with different
/// lists on one table refuse each other's versions).
pub const HISTORY_TABLE: &str = "_orders_migrations";

/// The table sqlx records migrations in by default, where builds before
/// [`HISTORY_TABLE`] recorded the stores' own.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
const SQLX_TABLE: &str = "_sqlx_migrations";

/// Copies one of the stores' rows (by version and checksum) from
/// `_sqlx_migrations` to [`HISTORY_TABLE`], then removes it there; the same
/// text on both dialects.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
const HAND_OVER: [&str; 2] = [
    "INSERT INTO _orders_migrations SELECT * FROM _sqlx_migrations WHERE version = $1 AND checksum = $2",
    "DELETE FROM _sqlx_migrations WHERE version = $1 AND checksum = $2",
];

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn own(set: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let mut migrator = embedded_migrator(set);
    migrator.dangerous_set_table_name(HISTORY_TABLE);
    migrator
}

/// The SQLite migrator.
#[cfg(feature = "sqlite")]
pub(crate) fn sqlite() -> Migrator {
    own(SQLITE)
}

/// The PostgreSQL migrator.
#[cfg(feature = "postgres")]
pub(crate) fn postgres() -> Migrator {
    own(POSTGRES)
}

/// Moves the stores' rows out of `_sqlx_migrations` into [`HISTORY_TABLE`],
/// once, on a database migrated by an earlier build: a row moves only when
/// its version and checksum are one of `migrator`'s, so a host's own
/// migrations stay where they are. Runs before the migrator, in one
/// transaction, and does nothing when [`HISTORY_TABLE`] already exists.
#[cfg(feature = "sqlite")]
pub(crate) async fn adopt_sqlite(
    pool: &sqlx::SqlitePool,
    migrator: &Migrator,
) -> Result<(), MigrateError> {
    let mut tx = pool.begin().await?;
    let exists = |name: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
        )
        .bind(name)
    };
    if exists(HISTORY_TABLE).fetch_one(&mut *tx).await? > 0
        || exists(SQLX_TABLE).fetch_one(&mut *tx).await? == 0
    {
        return Ok(());
    }
    // sqlx's own table definition, under our name.
    tx.ensure_migrations_table(HISTORY_TABLE).await?;
    for migration in migrator.iter() {
        for sql in HAND_OVER {
            sqlx::query(sql)
                .bind(migration.version)
                .bind(migration.checksum.as_ref())
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(tx.commit().await?)
}

/// [`adopt_sqlite`] on PostgreSQL, under an advisory lock so that
/// instances starting together adopt once.
#[cfg(feature = "postgres")]
pub(crate) async fn adopt_postgres(
    pool: &sqlx::PgPool,
    migrator: &Migrator,
) -> Result<(), MigrateError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('_orders_migrations'))")
        .execute(&mut *tx)
        .await?;
    let exists = |name: &'static str| {
        sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL").bind(name)
    };
    if exists(HISTORY_TABLE).fetch_one(&mut *tx).await?
        || !exists(SQLX_TABLE).fetch_one(&mut *tx).await?
    {
        return Ok(());
    }
    // sqlx's own table definition, under our name.
    tx.ensure_migrations_table(HISTORY_TABLE).await?;
    for migration in migrator.iter() {
        for sql in HAND_OVER {
            sqlx::query(sql)
                .bind(migration.version)
                .bind(migration.checksum.as_ref())
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(tx.commit().await?)
}

#[cfg(test)]
mod tests {
    /// The files of `dir`, as `(version, description)` from
    /// `NNNN_description.sql`.
    #[allow(dead_code)]
    fn on_disk(dir: &str) -> Vec<(i64, String)> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dir);
        let mut files: Vec<(i64, String)> = std::fs::read_dir(path)
            .expect("migrations folder")
            .map(|entry| {
                let name = entry
                    .expect("entry")
                    .file_name()
                    .into_string()
                    .expect("utf-8 name");
                let stem = name.strip_suffix(".sql").expect("only .sql files");
                let (version, description) = stem.split_once('_').expect("NNNN_description.sql");
                (
                    version.parse().expect("numeric version"),
                    description.to_owned(),
                )
            })
            .collect();
        files.sort();
        files
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn every_sqlite_migration_file_is_embedded() {
        let embedded: Vec<(i64, String)> = super::SQLITE
            .iter()
            .map(|(v, d, _)| (*v, (*d).to_owned()))
            .collect();
        assert_eq!(embedded, on_disk("sqlite"));
    }

    /// A product stored before products had versions is at version 1
    /// once migrated.
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn existing_products_start_at_version_1() {
        let store = crate::SqliteStore::connect("sqlite::memory:")
            .await
            .expect("open");
        super::embedded_migrator(&super::SQLITE[..1])
            .run(store.pool())
            .await
            .expect("first migration");
        sqlx::query(
            "INSERT INTO products (id, sku, name, description, price_minor, currency, stock, active, tax_class, created_at, updated_at)
             VALUES ('old', 'OLD-1', 'Old', '', 100, 'USD', 4, 1, 'standard', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        )
        .execute(store.pool())
        .await
        .expect("an old row");
        store.migrate().await.expect("the rest");
        let id = orders_core::ids::ProductId::parse("old").expect("id");
        let product = orders_core::ports::CatalogueStore::product(&store, &id)
            .await
            .expect("read")
            .expect("product");
        assert_eq!((product.version(), product.stock()), (1, 4));
    }

    /// The lines `orders_place` is sent name exactly the fields its newest
    /// definition reads, so none is read as NULL (and refused) or ignored.
    #[cfg(feature = "postgres")]
    #[test]
    fn placed_lines_name_the_fields_orders_place_reads() {
        use orders_core::money::{Currency, Money};
        let (_, _, sql) = super::POSTGRES.last().expect("a migration");
        let columns = sql
            .split_once("jsonb_to_recordset(l_lines)")
            .and_then(|(_, rest)| rest.split_once("AS ("))
            .and_then(|(_, rest)| rest.split_once(')'))
            .expect("the newest migration defines orders_place's line record")
            .0;
        let mut read: Vec<&str> = columns
            .split(',')
            .map(|c| c.split_whitespace().next().expect("a column name"))
            .collect();
        read.sort_unstable();

        let usd = |minor| Money::from_minor(minor, Currency::USD).expect("money");
        let line = orders_core::order::OrderLine {
            product_id: orders_core::ids::ProductId::parse("p").expect("id"),
            sku: orders_core::catalogue::Sku::parse("SKU-1").expect("sku"),
            name: orders_core::catalogue::ProductName::parse("Name").expect("name"),
            quantity: orders_core::cart::Quantity::new(2).expect("quantity"),
            unit_price: usd(150),
            line_subtotal: usd(300),
            line_discount: usd(30),
            line_tax: usd(54),
            line_total: usd(324),
            tax_class: orders_core::catalogue::TaxClass::standard(),
        };
        let sent: serde_json::Value =
            serde_json::from_str(&crate::postgres::place::lines_json(&[line])).expect("json");
        let object = sent[0].as_object().expect("an object per line");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, read);
        assert_eq!(
            (&object["discount"], &object["tax"], &object["total"]),
            (&30.into(), &54.into(), &324.into())
        );
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn every_postgres_migration_file_is_embedded() {
        let embedded: Vec<(i64, String)> = super::POSTGRES
            .iter()
            .map(|(v, d, _)| (*v, (*d).to_owned()))
            .collect();
        assert_eq!(embedded, on_disk("postgres"));
    }
}
