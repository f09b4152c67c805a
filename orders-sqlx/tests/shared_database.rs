//! A host keeps its own sqlx migrations in the same database as the
//! orders store: each migrator has its own history table, so neither
//! refuses the other, however often either restarts, in either order. A
//! database migrated by an earlier build (the store's rows in
//! `_sqlx_migrations`) hands them over to `_orders_migrations` once.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use orders_sqlx::{HISTORY_TABLE, Storage, embedded_migrator};
use sqlx::migrate::Migrator;

/// The host's own migrations, in sqlx's default `_sqlx_migrations`.
fn host_migrator() -> Migrator {
    embedded_migrator(&[
        (
            1,
            "host accounts",
            "CREATE TABLE host_accounts (id TEXT PRIMARY KEY)",
        ),
        (
            20240101,
            "host settings",
            "CREATE TABLE host_settings (k TEXT PRIMARY KEY, v TEXT)",
        ),
    ])
}

async fn run_host<'c, A>(conn: A)
where
    A: sqlx::Acquire<'c>,
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    host_migrator()
        .run(conn)
        .await
        .expect("the host's migrations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_and_the_store_migrate_one_sqlite_file_in_either_order() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/shop.db", dir.path().display());
    for round in 0..3 {
        // The store first on even rounds, the host first on odd ones.
        let storage = Storage::open(&url).await.unwrap();
        let host = sqlx::SqlitePool::connect(&url).await.unwrap();
        if round % 2 == 1 {
            run_host(&host).await;
        }
        storage.migrate().await.expect("the store's migrations");
        run_host(&host).await;
        storage.store().ping().await.unwrap();
        let count = |table: &str| {
            let host = host.clone();
            let sql = format!("SELECT count(*) FROM {table}");
            async move {
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&host)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(
            count("_sqlx_migrations").await,
            2,
            "the host's two, round {round}"
        );
        assert!(
            count(HISTORY_TABLE).await >= 2,
            "the store's, round {round}"
        );
        host.close().await;
        storage.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_and_the_store_migrate_one_postgres_database_twice() {
    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    for _ in 0..3 {
        let storage = db.storage().await;
        let host = sqlx::PgPool::connect(&db.url).await.unwrap();
        run_host(&host).await;
        storage.migrate().await.expect("the store's migrations");
        run_host(&host).await;
        let host_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(&host)
            .await
            .unwrap();
        assert_eq!(host_rows, 2);
        host.close().await;
        storage.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_builds_history_is_adopted_and_the_hosts_rows_stay() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/old.db", dir.path().display());
    // An earlier build: the store's migrations recorded in `_sqlx_migrations`
    // (the embedded list under sqlx's default table), beside a host row of
    // the same version with another checksum, which must stay.
    let storage = Storage::open(&url).await.unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let store_set: Vec<_> = orders_sqlx_sqlite_set();
    embedded_migrator(store_set.leak())
        .run(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (999, 'host', 1, x'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();

    storage
        .migrate()
        .await
        .expect("adopts, then nothing to apply");
    storage.migrate().await.expect("and again");
    let left: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, [999], "only the host's row is left");
    let adopted: i64 = sqlx::query_scalar("SELECT count(*) FROM _orders_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(adopted >= 2, "{adopted}");
    storage.store().ping().await.unwrap();
}

/// The SQLite migrations as shipped, read from the crate's folder.
fn orders_sqlx_sqlite_set() -> Vec<(i64, &'static str, &'static str)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
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
        .collect()
}
