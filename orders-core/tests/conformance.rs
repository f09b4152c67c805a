//! The conformance kit against the in-memory store.
#![cfg(feature = "testkit")]

use std::sync::Arc;

use orders_core::memory::MemoryStore;
use orders_core::ports::{MailboxStore, OutboxStore, Store};

#[test]
fn memory_store_conforms() {
    futures_executor::block_on(orders_core::testkit::run_all(|| async {
        Arc::new(MemoryStore::new()) as Arc<dyn Store>
    }));
}

#[test]
fn memory_store_keeps_deliveries_as_the_port_says() {
    let store = Arc::new(MemoryStore::new());
    futures_executor::block_on(orders_core::testkit::run_deliveries(|| {
        let store = store.clone();
        async move { store as Arc<dyn OutboxStore> }
    }));
}

#[test]
fn memory_store_keeps_mails_as_the_port_says() {
    let store = Arc::new(MemoryStore::new());
    futures_executor::block_on(orders_core::testkit::run_mails(|| {
        let store = store.clone();
        async move { store as Arc<dyn MailboxStore> }
    }));
}
