//! Group commit on SQLite: concurrent writes share batches, a refused
//! write rolls back alone and hears its own answer, every answer comes
//! after its batch committed, and a batch whose `COMMIT` fails fails every
//! write in it.
#![cfg(feature = "sqlite")]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use orders_core::Error;
use orders_core::cart::CartStatus;
use orders_core::ids::CustomerId;
use orders_core::money::Currency;
use orders_core::ports::{CartStore, CatalogueStore, OrderStore, Store};
use orders_core::testkit::{cart_with, engine, form, product};
use orders_sqlx::SqliteStore;

const BUYERS: usize = 48;
/// Stock for two buyers in three: the others are refused, in the middle of
/// batches.
const STOCK: u32 = (BUYERS * 2 / 3) as u32;

/// `BUYERS` checkouts at once against stock for `STOCK`: the winners'
/// orders are stored, and visible to `observer` (other connections, when
/// given) the moment each checkout answers; each refused checkout hears
/// "insufficient stock" and leaves its cart open; stock ends at zero;
/// order numbers run 1..=STOCK; and the writes shared batches.
async fn refused_checkouts_roll_back_alone(store: Arc<SqliteStore>, observer: Option<SqliteStore>) {
    let dyn_store: Arc<dyn Store> = store.clone();
    let (orders, _) = engine(dyn_store);
    let hot = product(&orders, "5.00", STOCK).await;
    let side = product(&orders, "1.00", 10_000).await;
    let mut carts = Vec::new();
    for n in 0..BUYERS {
        let who = CustomerId::parse(&format!("batch-{n}")).expect("id");
        let cart = cart_with(&orders, &who, &[(side.id(), 1), (hot.id(), 1)]).await;
        carts.push((who, cart));
    }
    let before = store.write_batches();
    let observer = observer.map(Arc::new);
    let tasks: Vec<_> = carts
        .into_iter()
        .map(|(who, cart)| {
            let orders = orders.clone();
            let observer = observer.clone();
            tokio::spawn(async move {
                let result = orders.checkout(&who, &cart, form(None), None).await;
                // Committed before the answer: another connection sees it now.
                if let (Ok(outcome), Some(observer)) = (&result, &observer) {
                    let seen = observer.order(outcome.order.id()).await.expect("observe");
                    assert_eq!(
                        seen.as_ref(),
                        Some(&outcome.order),
                        "answered before commit"
                    );
                }
                (cart, result)
            })
        })
        .collect();
    let mut numbers = BTreeSet::new();
    let mut refused = 0;
    for task in tasks {
        let (cart, result) = task.await.expect("task");
        let stored_cart = store.cart(&cart).await.expect("cart").expect("exists");
        match result {
            Ok(outcome) => {
                assert_eq!(stored_cart.status(), CartStatus::CheckedOut);
                let stored = store.order(outcome.order.id()).await.expect("order");
                assert_eq!(stored.as_ref(), Some(&outcome.order));
                numbers.insert(outcome.order.number().get());
            }
            Err(error) => {
                assert_eq!(error, Error::InsufficientStock(vec![hot.id().clone()]));
                assert_eq!(stored_cart.status(), CartStatus::Open, "rolled back alone");
                refused += 1;
            }
        }
    }
    assert_eq!(numbers.len(), STOCK as usize);
    assert_eq!(refused, BUYERS - STOCK as usize);
    assert_eq!(
        numbers.into_iter().collect::<Vec<_>>(),
        (1..=u64::from(STOCK)).collect::<Vec<_>>(),
        "numbers without gaps"
    );
    let hot_now = orders.product(hot.id()).await.expect("hot");
    assert_eq!(hot_now.stock(), 0);
    let side_now = orders.product(side.id()).await.expect("side");
    assert_eq!(side_now.stock(), 10_000 - STOCK);

    let after = store.write_batches();
    let (batches, writes) = (after.batches - before.batches, after.writes - before.writes);
    assert!(writes >= BUYERS as u64, "{writes} writes");
    assert!(
        batches < writes,
        "{writes} writes in {batches} batches: none shared a batch"
    );
    println!("{writes} writes in {batches} batches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_refused_checkouts_roll_back_alone_in_shared_batches() {
    let (store, observer, _dir) = store_and_observer().await;
    refused_checkouts_roll_back_alone(store, Some(observer)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_memory_refused_checkouts_roll_back_alone_in_shared_batches() {
    let store = SqliteStore::connect("sqlite::memory:").await.expect("open");
    store.migrate().await.expect("migrate");
    refused_checkouts_roll_back_alone(Arc::new(store), None).await;
}

/// A write alone is committed at once, in a batch of its own: nothing
/// waits for company.
#[tokio::test]
async fn a_write_alone_commits_in_a_batch_of_its_own() {
    let (store, observer, _dir) = store_and_observer().await;
    let (orders, _) = engine(store.clone());
    for n in 0..5 {
        let who = CustomerId::parse(&format!("alone-{n}")).expect("id");
        let before = store.write_batches();
        let cart = orders
            .create_cart(&who, Some(Currency::USD))
            .await
            .expect("cart");
        let after = store.write_batches();
        assert_eq!(after.batches, before.batches + 1);
        assert_eq!(after.writes, before.writes + 1);
        let seen = observer.cart(&cart.id).await.expect("observe");
        assert!(seen.is_some(), "committed before the answer");
    }
}

/// A cart insert that passes its statement but breaks a deferred foreign
/// key (a host's trigger, checked only at `COMMIT`) makes its batch's
/// `COMMIT` fail: every write of that batch fails and none is stored, the
/// writes of other batches are stored, and the store writes on afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_commit_fails_every_write_of_its_batch() {
    let (store, observer, _dir) = store_and_observer().await;
    sqlx::raw_sql(
        "CREATE TABLE poison_parent (id INTEGER PRIMARY KEY);
         CREATE TABLE poison_child (parent INTEGER REFERENCES poison_parent (id) DEFERRABLE INITIALLY DEFERRED);
         CREATE TRIGGER poison AFTER INSERT ON orders_carts WHEN NEW.customer_id LIKE 'poison-%'
         BEGIN INSERT INTO poison_child VALUES (42); END;",
    )
    .execute(store.pool())
    .await
    .expect("poison");
    let (orders, _) = engine(store.clone());

    let mut shared = 0;
    for round in 0..5 {
        let tasks: Vec<_> = (0..64)
            .map(|n| {
                let prefix = if n % 16 == 5 { "poison" } else { "fine" };
                let who = CustomerId::parse(&format!("{prefix}-{round}-{n}")).expect("id");
                let orders = orders.clone();
                tokio::spawn(async move {
                    let result = orders.create_cart(&who, Some(Currency::USD)).await;
                    (who, result.is_ok())
                })
            })
            .collect();
        let mut answered_ok = BTreeSet::new();
        for task in tasks {
            let (who, ok) = task.await.expect("task");
            if who.as_str().starts_with("poison") {
                assert!(!ok, "{who}: a batch whose COMMIT failed answered Ok");
            } else if !ok {
                shared += 1;
            }
            if ok {
                answered_ok.insert(who.as_str().to_owned());
            }
        }
        let stored: BTreeSet<String> =
            sqlx::query_scalar("SELECT customer_id FROM orders_carts WHERE customer_id LIKE ?")
                .bind(format!("%-{round}-%"))
                .fetch_all(observer.pool())
                .await
                .expect("stored")
                .into_iter()
                .collect();
        assert_eq!(
            stored, answered_ok,
            "round {round}: stored exactly the writes answered Ok"
        );
    }
    assert!(
        shared > 0,
        "no write ever shared a batch with a poisoned one"
    );
    // The writer recovered: a write alone commits.
    let who = CustomerId::parse("fine-after").expect("id");
    let cart = orders
        .create_cart(&who, Some(Currency::USD))
        .await
        .expect("after");
    assert!(observer.cart(&cart.id).await.expect("observe").is_some());
}

/// A migrated store on a file, and another store on the same file that
/// sees only what was committed (the folder goes with the guard).
async fn store_and_observer() -> (Arc<SqliteStore>, SqliteStore, tempfile::TempDir) {
    let (store, dir) = common::sqlite().await;
    let url = format!("sqlite://{}", dir.path().join("orders.db").display());
    let observer = SqliteStore::connect(&url).await.expect("observer");
    (store, observer, dir)
}

async fn cart_status(store: &SqliteStore, cart: &orders_core::ids::CartId) -> CartStatus {
    store
        .cart(cart)
        .await
        .expect("cart")
        .expect("exists")
        .status()
}

/// `product`'s stock as stored now.
async fn stock_of(store: &SqliteStore, product: &orders_core::catalogue::Product) -> usize {
    let stored = store
        .product(product.id())
        .await
        .expect("product")
        .expect("exists");
    stored.stock() as usize
}

/// Polls `inner` at most `polls` times, then gives up and drops it: a
/// caller gone at whatever await it had reached.
struct GiveUpAfter<F> {
    inner: std::pin::Pin<Box<F>>,
    polls: u32,
}

impl<F: std::future::Future> std::future::Future for GiveUpAfter<F> {
    type Output = Option<F::Output>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        if self.polls == 0 {
            return std::task::Poll::Ready(None);
        }
        self.polls -= 1;
        self.inner.as_mut().poll(cx).map(Some)
    }
}

/// Card checkouts (a placement, then a capture: both writes that fold the
/// move of the batch's savepoint into their first trip) whose callers give
/// up at every await in turn, among others that wait, and some refused
/// for stock. Whatever was dropped where, the database stays whole: a cart
/// is checked out exactly when its order exists, stock went exactly to the
/// orders, numbers run without gaps, and every order's events chain up to
/// its stored status. The writes of those who waited are answered and
/// stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_that_give_up_mid_write_leave_the_database_whole() {
    const ROUNDS: usize = 6;
    const BUYERS: usize = 48;
    let (store, observer, _dir) = store_and_observer().await;
    let (orders, _) = engine(store.clone());
    let stock = (ROUNDS * BUYERS * 3 / 4) as u32;
    let hot = product(&orders, "5.00", stock).await;
    let side = product(&orders, "1.00", 100_000).await;
    let mut answered = Vec::new();
    let mut carts = Vec::new();
    for round in 0..ROUNDS {
        let mut round_carts = Vec::new();
        for n in 0..BUYERS {
            let who = CustomerId::parse(&format!("give-up-{round}-{n}")).expect("id");
            let cart = cart_with(&orders, &who, &[(side.id(), 2), (hot.id(), 1)]).await;
            round_carts.push((who, cart));
        }
        let tasks: Vec<_> = round_carts
            .iter()
            .cloned()
            .enumerate()
            .map(|(n, (who, cart))| {
                let orders = orders.clone();
                tokio::spawn(async move {
                    let checkout = Box::pin(async move {
                        orders
                            .checkout(&who, &cart, form(Some("4242424242424242")), None)
                            .await
                    });
                    // A third wait; the others give up after 1 to 32 polls.
                    let polls = if n % 3 == 0 {
                        u32::MAX
                    } else {
                        1 + (n * 7 % 32) as u32
                    };
                    GiveUpAfter {
                        inner: checkout,
                        polls,
                    }
                    .await
                })
            })
            .collect();
        for (task, (_, cart)) in tasks.into_iter().zip(&round_carts) {
            if let Some(result) = task.await.expect("task") {
                answered.push((cart.clone(), result));
            }
        }
        carts.extend(round_carts);
    }
    // A write alone commits whatever batch the last callers left open.
    let who = CustomerId::parse("give-up-after").expect("id");
    orders
        .create_cart(&who, Some(Currency::USD))
        .await
        .expect("a write after");

    let stored: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT id, customer_id, number FROM orders_orders ORDER BY number")
            .fetch_all(observer.pool())
            .await
            .expect("orders");
    assert!(!stored.is_empty(), "no checkout got through");
    let count = stored.len();
    assert_eq!(
        stored.iter().map(|(_, _, n)| *n).collect::<Vec<_>>(),
        (1..=count as i64).collect::<Vec<_>>(),
        "numbers without gaps"
    );
    let buyers: BTreeSet<&str> = stored.iter().map(|(_, who, _)| who.as_str()).collect();
    assert_eq!(buyers.len(), count, "one order per cart at most");
    for (who, cart) in &carts {
        let status = cart_status(&observer, cart).await;
        let ordered = buyers.contains(who.as_str());
        assert_eq!(
            status == CartStatus::CheckedOut,
            ordered,
            "{who}: cart {status:?}, ordered: {ordered}"
        );
    }
    assert_eq!(stock_of(&observer, &hot).await, stock as usize - count);
    assert_eq!(stock_of(&observer, &side).await, 100_000 - 2 * count);
    for (id, who, _) in &stored {
        let id = orders_core::ids::OrderId::parse(id).expect("order id");
        let order = observer.order(&id).await.expect("order").expect("exists");
        let events = observer.order_events(&id).await.expect("events");
        assert_eq!(events.first().map(|e| e.from), Some(None), "{who}: placed");
        for pair in events.windows(2) {
            assert_eq!(pair[1].from, Some(pair[0].to), "{who}: events chain");
        }
        assert_eq!(
            events.last().map(|e| e.to),
            Some(order.status()),
            "{who}: the last event is the stored status"
        );
    }
    let mut got_through = 0;
    for (cart, result) in &answered {
        match result {
            Ok(outcome) => {
                got_through += 1;
                let seen = observer.order(outcome.order.id()).await.expect("order");
                assert_eq!(seen.as_ref(), Some(&outcome.order), "answered, not stored");
            }
            Err(error) => {
                assert_eq!(error, &Error::InsufficientStock(vec![hot.id().clone()]));
                let status = cart_status(&observer, cart).await;
                assert_eq!(status, CartStatus::Open, "refused, yet checked out");
            }
        }
    }
    assert!(got_through > 0, "no caller that waited got an order");
    assert!(
        answered.len() < ROUNDS * BUYERS,
        "no caller gave up mid-checkout"
    );
    println!(
        "{count} orders, {got_through} answered, {} answered of {}",
        answered.len(),
        ROUNDS * BUYERS
    );
}

/// A placement that loses the whole transaction half-way (a host's
/// trigger raises `ROLLBACK`) fails every write of its batch, placements
/// that moved the savepoint in their own first trip included: none of them
/// is stored, none is answered `Ok`, and the writer goes on with the next
/// batch. Stock and carts agree with the answers exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transaction_lost_half_way_fails_every_write_of_its_batch() {
    const ROUNDS: usize = 5;
    const BUYERS: usize = 48;
    let (store, observer, _dir) = store_and_observer().await;
    sqlx::raw_sql(
        "CREATE TRIGGER lose_the_transaction AFTER INSERT ON orders_orders
         WHEN NEW.email LIKE 'lose-%' BEGIN SELECT RAISE(ROLLBACK, 'lost on purpose'); END;",
    )
    .execute(store.pool())
    .await
    .expect("trigger");
    let (orders, _) = engine(store.clone());
    let stock = 100_000;
    let hot = product(&orders, "5.00", stock).await;
    let mut answers = Vec::new();
    for round in 0..ROUNDS {
        let mut carts = Vec::new();
        for n in 0..BUYERS {
            let who = CustomerId::parse(&format!("lost-{round}-{n}")).expect("id");
            let cart = cart_with(&orders, &who, &[(hot.id(), 1)]).await;
            carts.push((n % 12 == 5, who, cart));
        }
        let tasks: Vec<_> = carts
            .into_iter()
            .map(|(lose, who, cart)| {
                let orders = orders.clone();
                tokio::spawn(async move {
                    let mut details = form(Some("4242424242424242"));
                    if lose {
                        details.email = Some(format!("lose-{who}@example.com"));
                    }
                    let result = orders.checkout(&who, &cart, details, None).await;
                    (lose, cart, result.is_ok())
                })
            })
            .collect();
        for task in tasks {
            answers.push(task.await.expect("task"));
        }
    }
    let mut placed = 0;
    let mut shared = 0;
    for (lose, cart, ok) in &answers {
        assert!(
            !(*lose && *ok),
            "a placement whose transaction was lost answered Ok"
        );
        if !lose && !ok {
            shared += 1;
        }
        let status = cart_status(&observer, cart).await;
        assert_eq!(
            status == CartStatus::CheckedOut,
            *ok,
            "cart {cart}: {status:?}, answered Ok: {ok}"
        );
        placed += usize::from(*ok);
    }
    let orders_stored: i64 = sqlx::query_scalar("SELECT count(*) FROM orders_orders")
        .fetch_one(observer.pool())
        .await
        .expect("count");
    assert_eq!(
        orders_stored as usize, placed,
        "stored exactly the orders answered Ok"
    );
    assert_eq!(stock_of(&observer, &hot).await, stock as usize - placed);
    assert!(placed > 0, "no checkout got through");
    assert!(
        shared > 0,
        "no checkout shared a batch with a lost transaction"
    );
    println!(
        "{placed} placed, {shared} failed with a lost batch, of {}",
        answers.len()
    );
}
