//! The schema a new database gets at once (`migrations/baseline`) is the
//! schema the migrations make one by one on an installed shop, on SQLite
//! and PostgreSQL, with the same history recorded; and every object in it
//! is named with the store's prefix, so none can meet a host's own.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use orders_sqlx::{HISTORY_TABLE, SqliteStore, TABLE_PREFIX, embedded_migrator};
use sqlx::migrate::Migrator;

/// The migrations of `dir` as shipped, read from the crate's folder, under
/// the store's history table: the chain an installed shop went through.
fn chain(dir: &str) -> Migrator {
    let dir = format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let set: Vec<(i64, &'static str, &'static str)> = files
        .into_iter()
        .map(|path| {
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let (version, description) = name.split_once('_').unwrap();
            let sql = std::fs::read_to_string(&path).unwrap();
            (
                version.parse().unwrap(),
                &*String::leak(description.to_owned()),
                &*String::leak(sql),
            )
        })
        .collect();
    let mut migrator = embedded_migrator(set.leak());
    migrator.dangerous_set_table_name(HISTORY_TABLE);
    migrator
}

/// A table's SQL with what SQLite keeps verbatim but does not matter left
/// out: comments, quotes, constraint names (text in SQLite, not objects)
/// and white space.
fn normalized(sql: &str) -> String {
    let no_comments: String = sql
        .lines()
        .map(|line| line.split_once("--").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join(" ");
    let words: Vec<&str> = no_comments.split_whitespace().collect();
    let mut kept = Vec::new();
    let mut skip_name = false;
    for word in words {
        if skip_name {
            skip_name = false;
        } else if word.eq_ignore_ascii_case("CONSTRAINT") {
            skip_name = true;
        } else {
            kept.push(word);
        }
    }
    kept.concat().replace('"', "")
}

/// The schema of a SQLite database (its history table aside) and its
/// recorded history.
async fn sqlite_schema(pool: &sqlx::SqlitePool) -> (Vec<(String, String, String)>, Vec<String>) {
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT type, name, sql FROM sqlite_master \
         WHERE tbl_name <> '_orders_migrations' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let history: Vec<(i64, String, Vec<u8>, bool)> = sqlx::query_as(
        "SELECT version, description, checksum, success FROM _orders_migrations ORDER BY version",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    (
        rows.into_iter()
            .map(|(kind, name, sql)| (kind, name, normalized(&sql.unwrap_or_default())))
            .collect(),
        history.into_iter().map(|h| format!("{h:?}")).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_baseline_is_the_migrations_schema() {
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sqlite://{}/{name}", dir.path().display());
    let fresh = SqliteStore::connect(&url("fresh.db")).await.unwrap();
    fresh.migrate().await.expect("a new database");
    let installed = SqliteStore::connect(&url("installed.db")).await.unwrap();
    chain("sqlite")
        .run(installed.pool())
        .await
        .expect("one by one");
    installed.migrate().await.expect("nothing left");

    let (schema, history) = sqlite_schema(fresh.pool()).await;
    assert_eq!(
        (schema.clone(), history.clone()),
        sqlite_schema(installed.pool()).await
    );
    assert_eq!(history.len(), chain("sqlite").iter().count());
    let foreign: Vec<_> = schema
        .iter()
        .map(|(_, name, _)| name.as_str())
        .filter(|name| {
            !name.starts_with(TABLE_PREFIX)
                && !name.starts_with("sqlite_autoindex_orders_")
                && *name != "sqlite_sequence"
        })
        .collect();
    assert!(foreign.is_empty(), "unprefixed: {foreign:?}");
}

/// What PostgreSQL says of the store's objects in the current schema: every
/// relation, constraint, index, column and function, in a fixed order.
const PG_SCHEMA: &str = "
    SELECT concat_ws(' ', 'relation', relkind::text, relname) FROM pg_class
        WHERE relnamespace = current_schema()::regnamespace AND relname NOT LIKE '\\_orders\\_migrations%'
    UNION ALL SELECT concat_ws(' ', 'constraint', conrelid::regclass::text, conname, pg_get_constraintdef(oid))
        FROM pg_constraint WHERE connamespace = current_schema()::regnamespace
        AND conrelid::regclass::text <> '_orders_migrations'
    UNION ALL SELECT concat_ws(' ', 'index', indexname, indexdef) FROM pg_indexes
        WHERE schemaname = current_schema() AND tablename <> '_orders_migrations'
    UNION ALL SELECT concat_ws(' ', 'column', table_name, ordinal_position, column_name, data_type,
            is_nullable, column_default, is_identity, identity_generation)
        FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name <> '_orders_migrations'
    UNION ALL SELECT concat_ws(' ', 'function', pg_get_functiondef(oid)) FROM pg_proc
        WHERE pronamespace = current_schema()::regnamespace
    UNION ALL SELECT concat_ws(' ', 'history', version, description, encode(checksum, 'hex'), success)
        FROM _orders_migrations
    ORDER BY 1";

/// The names of the store's objects that do not carry its prefix.
const PG_UNPREFIXED: &str = "
    SELECT name FROM (
        SELECT relname::text AS name FROM pg_class WHERE relnamespace = current_schema()::regnamespace
        UNION ALL SELECT conname::text FROM pg_constraint WHERE connamespace = current_schema()::regnamespace
        UNION ALL SELECT proname::text FROM pg_proc WHERE pronamespace = current_schema()::regnamespace
    ) AS objects
    WHERE name NOT LIKE 'orders\\_%' AND name NOT LIKE '\\_orders\\_migrations%'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_baseline_is_the_migrations_schema() {
    let (Some(fresh), Some(installed)) = (
        common::PgDatabase::create().await,
        common::PgDatabase::create().await,
    ) else {
        return;
    };
    let fresh = fresh_store(&fresh).await;
    let installed_pool = sqlx::PgPool::connect(&installed.url).await.unwrap();
    chain("postgres")
        .run(&installed_pool)
        .await
        .expect("one by one");
    orders_sqlx::PgStore::from_pool(installed_pool.clone())
        .migrate()
        .await
        .expect("nothing left");

    let schema = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, String>(PG_SCHEMA)
            .fetch_all(&pool)
            .await
            .unwrap()
    };
    let (made, chained) = (
        schema(fresh.clone()).await,
        schema(installed_pool.clone()).await,
    );
    assert!(
        made.iter().any(|line| line.starts_with("function ")),
        "{made:?}"
    );
    assert_eq!(made, chained);
    let unprefixed: Vec<String> = sqlx::query_scalar(PG_UNPREFIXED)
        .fetch_all(&fresh)
        .await
        .unwrap();
    assert!(unprefixed.is_empty(), "unprefixed: {unprefixed:?}");
}

async fn fresh_store(db: &common::PgDatabase) -> sqlx::PgPool {
    let store = db.store().await;
    store.pool().clone()
}
