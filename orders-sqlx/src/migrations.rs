//! The embedded migrations, one set per backend, and how the store shares
//! a database with its host.
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
//!
//! # Names: a fixed `orders_` prefix
//!
//! Every object the store creates is named `orders_…` ([`TABLE_PREFIX`]):
//! `orders_products`, `orders_orders`, their constraints, indexes and
//! sequences (`orders_products_sku_key`, `orders_orders_number_seq`), and
//! the function `orders_place`. A shop's own `products` or `orders` table
//! and the names PostgreSQL derives from it (`products_pkey`,
//! `products_sku_key`, `orders_id_seq`) then never meet one of ours.
//! - A fixed prefix, not a configurable one: the statements stay constant
//!   text, checked by the tests as written, with no table name spliced in
//!   at run time, and every database of the store has the same schema.
//! - A prefix, not a PostgreSQL schema of our own: SQLite has no schemas
//!   (an attached file would be a second database, outside the host's
//!   transactions and backups), so one rule serves both backends and the
//!   statements shared by both (`statements.rs`) stay shared. On
//!   PostgreSQL the objects live in the connection's current schema, so a
//!   host that wants them apart sets `search_path` in the connect options.
//!
//! # A baseline for databases the store has not migrated before
//!
//! Migration 1 created the tables under their first, unprefixed names;
//! a later migration (SQLite 3, PostgreSQL 6) renames them, so a shop
//! installed before keeps its data. On a database with no history of the
//! store, though, migration 1 would fail on a host's own `products`. So
//! there the store creates its schema as those migrations leave it, at
//! once (`migrations/baseline`), and records them as applied (sqlx's
//! `skip`); later migrations then run as usual on every database. A test
//! checks that the baseline and the migrations make the same schema.
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
    (
        3,
        "table_prefix",
        include_str!("../migrations/sqlite/0003_table_prefix.sql"),
    ),
    (
        4,
        "webhooks",
        include_str!("../migrations/sqlite/0004_webhooks.sql"),
    ),
    (
        5,
        "payments",
        include_str!("../migrations/sqlite/0005_payments.sql"),
    ),
    (
        6,
        "aftersale",
        include_str!("../migrations/sqlite/0006_aftersale.sql"),
    ),
    (
        7,
        "emails",
        include_str!("../migrations/sqlite/0007_emails.sql"),
    ),
    (
        8,
        "guest_carts",
        include_str!("../migrations/sqlite/0008_guest_carts.sql"),
    ),
    (
        9,
        "discount_limits",
        include_str!("../migrations/sqlite/0009_discount_limits.sql"),
    ),
    (
        10,
        "catalogue_search_images",
        include_str!("../migrations/sqlite/0010_catalogue_search_images.sql"),
    ),
    (
        11,
        "delivery_claim_index",
        include_str!("../migrations/sqlite/0011_delivery_claim_index.sql"),
    ),
];

/// The SQLite schema as migrations 1 to [`SQLITE_BASELINE`]`.0` leave it.
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE_BASELINE: (i64, &str) =
    (10, include_str!("../migrations/baseline/sqlite.sql"));

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
    (
        6,
        "table_prefix",
        include_str!("../migrations/postgres/0006_table_prefix.sql"),
    ),
    (
        7,
        "webhooks",
        include_str!("../migrations/postgres/0007_webhooks.sql"),
    ),
    (
        8,
        "payments",
        include_str!("../migrations/postgres/0008_payments.sql"),
    ),
    (
        9,
        "aftersale",
        include_str!("../migrations/postgres/0009_aftersale.sql"),
    ),
    (
        10,
        "emails",
        include_str!("../migrations/postgres/0010_emails.sql"),
    ),
    (
        11,
        "event_xid",
        include_str!("../migrations/postgres/0011_event_xid.sql"),
    ),
    (
        12,
        "guest_carts",
        include_str!("../migrations/postgres/0012_guest_carts.sql"),
    ),
    (
        13,
        "discount_limits",
        include_str!("../migrations/postgres/0013_discount_limits.sql"),
    ),
    (
        14,
        "catalogue_search_images",
        include_str!("../migrations/postgres/0014_catalogue_search_images.sql"),
    ),
    (
        15,
        "mail_cursor_txid",
        include_str!("../migrations/postgres/0015_mail_cursor_txid.sql"),
    ),
    (
        16,
        "delivery_claim_index",
        include_str!("../migrations/postgres/0016_delivery_claim_index.sql"),
    ),
];

/// The PostgreSQL schema as migrations 1 to [`POSTGRES_BASELINE`]`.0`
/// leave it.
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES_BASELINE: (i64, &str) =
    (14, include_str!("../migrations/baseline/postgres.sql"));

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

/// What the name of every table, index, constraint, sequence and function
/// the stores create begins with (see the module docs), so that a host
/// keeps its own `products`, `orders` or `carts` beside them.
pub const TABLE_PREFIX: &str = "orders_";

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

/// Prepares a database for the migrator, in one transaction: moves the
/// stores' rows out of `_sqlx_migrations` into [`HISTORY_TABLE`] on a
/// database migrated by an earlier build (a row moves only when its
/// version and checksum are one of `migrator`'s, so a host's own
/// migrations stay where they are), then, on a database with no history
/// of the store, creates the `baseline` schema and records the migrations
/// it stands for (see the module docs).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
async fn prepare<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    migrator: &Migrator,
    baseline: (i64, &'static str),
    history_exists: bool,
    sqlx_exists: bool,
) -> Result<(), MigrateError>
where
    DB: sqlx::Database,
    DB::Connection: sqlx::migrate::Migrate,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments: sqlx::IntoArguments<DB>,
    i64: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB> + for<'r> sqlx::Decode<'r, DB>,
    for<'q> &'q [u8]: sqlx::Type<DB> + sqlx::Encode<'q, DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let conn: &mut DB::Connection = &mut *tx;
    conn.ensure_migrations_table(HISTORY_TABLE).await?;
    if !history_exists && sqlx_exists {
        for migration in migrator.iter() {
            for sql in HAND_OVER {
                sqlx::query(sql)
                    .bind(migration.version)
                    .bind(migration.checksum.as_ref())
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    let recorded: (i64,) = sqlx::query_as("SELECT count(*) FROM _orders_migrations")
        .fetch_one(&mut *conn)
        .await?;
    if recorded.0 > 0 {
        return Ok(());
    }
    let (through, sql) = baseline;
    sqlx::raw_sql(sql.into_sql_str())
        .execute(&mut *conn)
        .await
        .map_err(|e| MigrateError::ExecuteMigration(e, through))?;
    for migration in migrator.iter().filter(|m| m.version <= through) {
        conn.skip(HISTORY_TABLE, migration).await?;
    }
    Ok(())
}

/// [`prepare`] on SQLite, holding the file's write lock throughout.
#[cfg(feature = "sqlite")]
pub(crate) async fn prepare_sqlite(
    pool: &sqlx::SqlitePool,
    migrator: &Migrator,
) -> Result<(), MigrateError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let exists = |name: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
        )
        .bind(name)
    };
    let history = exists(HISTORY_TABLE).fetch_one(&mut *tx).await? > 0;
    let sqlx_table = exists(SQLX_TABLE).fetch_one(&mut *tx).await? > 0;
    prepare(&mut tx, migrator, SQLITE_BASELINE, history, sqlx_table).await?;
    Ok(tx.commit().await?)
}

/// [`prepare`] on PostgreSQL, under an advisory lock so that instances
/// starting together prepare once.
#[cfg(feature = "postgres")]
pub(crate) async fn prepare_postgres(
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
    let history = exists(HISTORY_TABLE).fetch_one(&mut *tx).await?;
    let sqlx_table = exists(SQLX_TABLE).fetch_one(&mut *tx).await?;
    prepare(&mut tx, migrator, POSTGRES_BASELINE, history, sqlx_table).await?;
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
        let (_, _, sql) = super::POSTGRES
            .iter()
            .rev()
            .find(|(_, _, sql)| {
                sql.contains("CREATE OR REPLACE FUNCTION orders_place")
                    || sql.contains("CREATE FUNCTION orders_place")
            })
            .expect("a migration defining orders_place");
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
