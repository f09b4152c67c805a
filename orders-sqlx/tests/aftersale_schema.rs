//! The after-sale tables check what the domain checks, on both backends:
//! every status of a fulfilment, return and refund is taken and others are
//! refused, as are negative amounts and positions below 1; a record names
//! an order that exists.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::sync::Arc;

use orders_core::cart::Quantity;
use orders_core::ids::CustomerId;
use orders_core::order::{
    Actor, FulfilmentRequest, FulfilmentStatus, ItemLine, NewNote, NoteText, RefundAmount,
    RefundRequest, ReturnStatus, TrackingNumber,
};
use orders_core::ports::Store;

/// An order with a fulfilment, a refund and a note, placed through the
/// engine; the ids of the order and of each record.
async fn records(store: Arc<dyn Store>) -> [String; 4] {
    let (orders, _) = orders_core::testkit::engine(store);
    let who = CustomerId::parse("buyer").expect("id");
    let p = orders_core::testkit::product(&orders, "3.00", 5).await;
    let cart = orders_core::testkit::cart_with(&orders, &who, &[(p.id(), 2)]).await;
    let form = orders_core::testkit::token_form("test_visa");
    let order = orders
        .checkout(&who, &cart, form, None)
        .await
        .expect("checkout")
        .order;
    let line = ItemLine {
        product_id: p.id().clone(),
        quantity: Quantity::new(1).expect("q"),
    };
    let staff = Actor::system();
    let (_, fulfilment) = orders
        .create_fulfilment(
            staff.clone(),
            order.id(),
            FulfilmentRequest {
                lines: vec![line.clone()],
                carrier: None,
                tracking_number: TrackingNumber::parse("T").expect("t"),
            },
        )
        .await
        .expect("fulfilment");
    let (_, refund) = orders
        .refund(
            staff.clone(),
            order.id(),
            RefundRequest {
                amount: RefundAmount::Lines {
                    lines: vec![line],
                    shipping: false,
                },
                note: None,
                return_id: None,
            },
        )
        .await
        .expect("refund");
    let (_, note) = orders
        .add_note(
            staff,
            order.id(),
            NewNote {
                text: NoteText::parse("hello").expect("text"),
                visible_to_customer: false,
            },
        )
        .await
        .expect("note");
    [
        order.id().to_string(),
        fulfilment.id.to_string(),
        refund.id.to_string(),
        note.id.to_string(),
    ]
}

macro_rules! run {
    ($pool:expr, $sql:expr, $id:expr) => {
        sqlx::query(sqlx::AssertSqlSafe($sql))
            .bind($id)
            .execute($pool)
            .await
            .map(|done| done.rows_affected())
    };
}

macro_rules! check_tables {
    ($pool:expr, $ids:expr) => {{
        let [_, fulfilment, refund, note] = &$ids;
        for status in FulfilmentStatus::ALL {
            let sql = format!("UPDATE orders_fulfilments SET status = '{status}' WHERE id = $1");
            assert_eq!(run!($pool, sql, fulfilment).expect("a status"), 1);
        }
        for status in ["pending", "succeeded"] {
            let sql = format!("UPDATE orders_refunds SET status = '{status}' WHERE id = $1");
            assert_eq!(run!($pool, sql, refund).expect("a status"), 1);
        }
        let refused = [
            ("UPDATE orders_fulfilments SET status = 'lost' WHERE id = $1", fulfilment),
            ("UPDATE orders_fulfilments SET amount_minor = -1 WHERE id = $1", fulfilment),
            ("UPDATE orders_fulfilments SET position = 0 WHERE id = $1", fulfilment),
            ("UPDATE orders_refunds SET status = 'failed' WHERE id = $1", refund),
            ("UPDATE orders_refunds SET amount_minor = -1 WHERE id = $1", refund),
            ("UPDATE orders_notes SET position = 0 WHERE id = $1", note),
        ];
        for (sql, id) in refused {
            let error = run!($pool, sql.to_owned(), id).expect_err(sql);
            assert!(
                error.as_database_error().is_some_and(|e| e.is_check_violation()),
                "{sql}: {error}"
            );
        }
        // A return's statuses, on a row of its own.
        let insert = "INSERT INTO orders_returns (id, order_id, position, status, lines, reason, note, restocked, created_at, updated_at)
             SELECT 'ret-1', order_id, 1, 'requested', '[]', 'r', NULL, false, '2026-01-01T00:00:00.000000000Z', '2026-01-01T00:00:00.000000000Z'
             FROM orders_fulfilments WHERE id = $1";
        assert_eq!(run!($pool, insert.to_owned(), fulfilment).expect("a return"), 1);
        for status in ReturnStatus::ALL {
            let sql = format!("UPDATE orders_returns SET status = '{status}' WHERE id = $1");
            assert_eq!(run!($pool, sql, "ret-1").expect("a status"), 1);
        }
        let sql = "UPDATE orders_returns SET status = 'lost' WHERE id = $1";
        let error = run!($pool, sql.to_owned(), "ret-1").expect_err(sql);
        assert!(error.as_database_error().is_some_and(|e| e.is_check_violation()), "{error}");
        // A record of an order that does not exist.
        let orphan = "INSERT INTO orders_notes (id, order_id, position, text, visible_to_customer, author, created_at)
             VALUES ($1, 'no-such-order', 1, 't', false, 'system', '2026-01-01T00:00:00.000000000Z')";
        let error = run!($pool, orphan.to_owned(), "note-x").expect_err("orphan");
        assert!(
            error.as_database_error().is_some_and(|e| e.is_foreign_key_violation()),
            "{error}"
        );
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aftersale_tables_check_their_values() {
    let (store, _dir) = common::sqlite().await;
    let ids = records(store.clone()).await;
    check_tables!(store.pool(), ids);

    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let store = db.store().await;
    let ids = records(store.clone()).await;
    check_tables!(store.pool(), ids);
}
