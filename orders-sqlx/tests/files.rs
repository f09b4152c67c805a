//! The SQLite file and its WAL companions are created private to their
//! owner: orders hold customers' names, emails and addresses.
#![cfg(all(unix, feature = "sqlite"))]

use std::os::unix::fs::PermissionsExt;

use orders_sqlx::SqliteStore;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn a_new_database_and_its_wal_files_are_readable_by_their_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.db");
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    // Migrating writes, so the WAL and shared-memory files exist now.
    store.migrate().await.unwrap();
    for name in ["shop.db", "shop.db-wal", "shop.db-shm"] {
        assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
    }
}

#[tokio::test]
async fn an_existing_file_keeps_the_mode_its_owner_chose() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    assert_eq!(mode(&path), 0o640);
}

#[tokio::test]
async fn a_file_in_a_missing_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/no/such/folder/shop.db", dir.path().display());
    let error = SqliteStore::connect(&url).await.unwrap_err();
    assert!(error.to_string().contains("No such file"), "{error}");
}
