//! The HTTP scenarios: journeys A and B, and reads, by N concurrent
//! customers for a duration or a number of journeys.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::api::{Api, Failed, Op, Product, Recorder};
use crate::procfs::{CpuMark, CpuShares};
use crate::stats::Ms;
use crate::target::Target;

/// The password of every generated customer.
const PASSWORD: &str = "loadgen-password-1";

/// What each journey does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Scenario {
    /// Create a cart, add one product with quantity 2, check out by card.
    A,
    /// Create a cart, add three products, check out by card.
    B,
    /// `GET /api/products`, then `GET /api/orders/{id}` of one's own order.
    Reads,
}

impl Scenario {
    /// Its name in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::A => "journey A",
            Scenario::B => "journey B",
            Scenario::Reads => "reads",
        }
    }
}

/// How much load, for how long.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Concurrent customers.
    pub(crate) clients: usize,
    /// No journey starts after this long.
    pub(crate) duration: Duration,
    /// At most this many journeys, over all customers.
    pub(crate) count: Option<u64>,
    /// With a staff account: raise every product's stock to this first.
    pub(crate) restock: u64,
    /// Staff credentials, for restocking.
    pub(crate) staff: Option<(String, String)>,
    /// The server's process id, for its CPU share.
    pub(crate) server_pid: Option<u32>,
}

/// A run's results.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// What ran.
    pub(crate) scenario: Scenario,
    /// Concurrent customers.
    pub(crate) clients: usize,
    /// From the first journey's start to the last one's end.
    pub(crate) elapsed: Duration,
    /// Everything measured.
    pub(crate) rec: Recorder,
    /// CPU use over the run.
    pub(crate) cpu: CpuShares,
}

/// A unique tag for this run's accounts and idempotency keys.
pub(crate) fn run_tag() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", nanos & 0xffff_ffff_ffff, std::process::id())
}

/// Lists the products, keeps those of the first one's currency, and (with
/// staff credentials) restocks them. Returns them and the currency.
pub(crate) async fn prepare_catalogue(
    target: &Target,
    staff: Option<&(String, String)>,
    restock: u64,
    rec: &mut Recorder,
) -> Result<(Vec<Product>, String), String> {
    let anonymous = Api::new(target)?;
    let products = anonymous
        .products(Op::Setup, rec)
        .await
        .map_err(|Failed(e)| format!("cannot list the products: {e}"))?;
    let currency = products
        .first()
        .map(|p| p.currency.clone())
        .ok_or("the server lists no products: start it with --demo")?;
    let products: Vec<Product> = products
        .into_iter()
        .filter(|p| p.currency == currency)
        .collect();
    if let Some((email, password)) = staff {
        let mut admin = Api::new(target)?;
        admin
            .login(email, password, rec)
            .await
            .map_err(|Failed(e)| format!("staff login failed: {e}"))?;
        for product in products.iter().filter(|p| p.stock < restock) {
            admin
                .restock(&product.id, restock - product.stock, rec)
                .await
                .map_err(|Failed(e)| format!("cannot restock {}: {e}", product.id))?;
        }
    } else {
        let stock: u64 = products.iter().map(|p| p.stock).sum();
        eprintln!(
            "note: no staff account given, products not restocked (total stock {stock}); \
             checkouts fail with 409 once it runs out"
        );
    }
    Ok((products, currency))
}

/// One simulated customer.
struct Customer {
    index: usize,
    api: Api,
    email: String,
    /// An order of theirs (reads only).
    order: Option<String>,
}

/// Registers `n` customers concurrently (untimed setup); for reads, each
/// also places one order to read back.
async fn register_customers(
    target: &Target,
    n: usize,
    tag: &str,
    reads: bool,
    catalogue: &Arc<(Vec<Product>, String)>,
) -> Result<Vec<Customer>, String> {
    let mut tasks = Vec::with_capacity(n);
    for index in 0..n {
        let target = target.clone();
        let tag = tag.to_owned();
        let catalogue = Arc::clone(catalogue);
        tasks.push(tokio::spawn(async move {
            let mut rec = Recorder::default();
            let mut api = Api::new(&target)?;
            let email = format!("loadgen-{tag}-{index}@example.com");
            // Setup, not measured: a registration the server's queue turns
            // away (503 busy, as it does to 32 at once on a slow machine)
            // waits a moment and tries again.
            let mut busy = 0;
            loop {
                match api.register(&email, PASSWORD, &mut rec).await {
                    Ok(()) => break,
                    Err(Failed(e)) if e.contains("503") && busy < 100 => {
                        busy += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    Err(Failed(e)) => return Err(format!("cannot register {email}: {e}")),
                }
            }
            let mut customer = Customer {
                index,
                api,
                email,
                order: None,
            };
            if reads {
                let order = journey(
                    Scenario::A,
                    &customer,
                    0,
                    &catalogue,
                    tag.as_str(),
                    &mut rec,
                )
                .await
                .map_err(|Failed(e)| format!("cannot place the order to read: {e}"))?;
                customer.order = order;
            }
            Ok::<_, String>(customer)
        }));
    }
    let mut customers = Vec::with_capacity(n);
    for task in tasks {
        customers.push(task.await.map_err(|e| e.to_string())??);
    }
    Ok(customers)
}

/// One journey; returns the order placed, if any.
async fn journey(
    scenario: Scenario,
    customer: &Customer,
    iteration: u64,
    catalogue: &(Vec<Product>, String),
    tag: &str,
    rec: &mut Recorder,
) -> Result<Option<String>, Failed> {
    let (products, currency) = catalogue;
    let n = products.len();
    // Spread the customers over the catalogue, so that they do not all
    // queue on one product's stock row.
    let pick = |k: usize| &products[(customer.index + iteration as usize + k) % n].id;
    let api = &customer.api;
    match scenario {
        Scenario::A | Scenario::B => {
            let cart = api.create_cart(currency, rec).await?;
            if scenario == Scenario::A {
                api.add_item(&cart, pick(0), 2, rec).await?;
            } else {
                for k in 0..3.min(n) {
                    api.add_item(&cart, pick(k), 1, rec).await?;
                }
            }
            let key = format!("lg-{tag}-{}-{iteration}", customer.index);
            let order = api.checkout(&cart, &customer.email, &key, rec).await?;
            Ok(Some(order))
        }
        Scenario::Reads => {
            api.products(Op::ListProducts, rec).await?;
            if let Some(order) = &customer.order {
                api.order(order, rec).await?;
            }
            Ok(None)
        }
    }
}

/// Runs `scenario` by `plan`.
pub(crate) async fn run(
    target: &Target,
    scenario: Scenario,
    plan: &Plan,
) -> Result<Outcome, String> {
    let tag = run_tag();
    let mut setup = Recorder::default();
    let catalogue =
        prepare_catalogue(target, plan.staff.as_ref(), plan.restock, &mut setup).await?;
    let catalogue = Arc::new(catalogue);
    let customers = register_customers(
        target,
        plan.clients,
        &tag,
        scenario == Scenario::Reads,
        &catalogue,
    )
    .await?;

    let started = Instant::now();
    let deadline = started + plan.duration;
    let begun = Arc::new(AtomicU64::new(0));
    let cpu_start = CpuMark::now(plan.server_pid);
    let mut tasks = Vec::with_capacity(customers.len());
    for customer in customers {
        let catalogue = Arc::clone(&catalogue);
        let begun = Arc::clone(&begun);
        let tag = tag.clone();
        let count = plan.count;
        tasks.push(tokio::spawn(async move {
            let mut rec = Recorder::default();
            let mut iteration = 0;
            while Instant::now() < deadline {
                if let Some(count) = count
                    && begun.fetch_add(1, Ordering::Relaxed) >= count
                {
                    break;
                }
                let t = Instant::now();
                match journey(scenario, &customer, iteration, &catalogue, &tag, &mut rec).await {
                    Ok(_) => rec.journeys.push(t.elapsed()),
                    Err(_) => rec.failed_journeys += 1,
                }
                iteration += 1;
            }
            rec
        }));
    }
    let mut rec = Recorder::default();
    for task in tasks {
        rec.absorb(task.await.map_err(|e| e.to_string())?);
    }
    let elapsed = started.elapsed();
    let cpu = cpu_start.shares(&CpuMark::now(plan.server_pid), elapsed);
    rec.failures.absorb(setup.failures);
    Ok(Outcome {
        scenario,
        clients: plan.clients,
        elapsed,
        rec,
        cpu,
    })
}

/// Prints the outcome for people, then one `ROW|` line of the table that
/// `benches/load.sh` collects.
pub(crate) fn print(outcome: &Outcome, label: &str) {
    let rec = &outcome.rec;
    let done = rec.journeys.len();
    let secs = outcome.elapsed.as_secs_f64().max(1e-9);
    let rate = done as f64 / secs;
    let requests: usize = Op::TIMED.iter().map(|&op| rec.op(op).len()).sum();
    println!(
        "{} — {} clients, {:.2} s: {done} journeys ({} failed), {rate:.1} journeys/s, {:.0} requests/s",
        outcome.scenario.name(),
        outcome.clients,
        secs,
        rec.failed_journeys,
        requests as f64 / secs,
    );
    let mut per_op = Vec::new();
    if let Some(s) = rec.journeys.summary() {
        println!(
            "  {:<14} p50 {:>8} ms  p99 {:>8} ms  max {:>8} ms  mean {:>8} ms",
            "journey",
            Ms(s.p50).to_string(),
            Ms(s.p99).to_string(),
            Ms(s.max).to_string(),
            Ms(s.mean).to_string()
        );
    }
    for op in Op::TIMED {
        if let Some(s) = rec.op(op).summary() {
            println!(
                "  {:<14} p50 {:>8} ms  p99 {:>8} ms  max {:>8} ms  ({} requests)",
                op.name(),
                Ms(s.p50).to_string(),
                Ms(s.p99).to_string(),
                Ms(s.max).to_string(),
                s.count
            );
            per_op.push(format!("{} {}/{}", op.name(), Ms(s.p50), Ms(s.p99)));
        }
    }
    let cpu = outcome.cpu;
    let pct = |s: Option<f64>| s.map_or("?".to_owned(), |s| format!("{:.0} %", s * 100.0));
    let cpu = format!(
        "CPU server {}, postgres {}, loadgen {}, other {}",
        pct(cpu.server),
        pct(Some(cpu.postgres)),
        pct(cpu.own),
        pct(cpu.other())
    );
    println!("  {cpu} (100 % = one core, of 200 %)");
    for (kind, count, message) in rec.failures.iter() {
        println!("  failed: {kind} ×{count} (first: {message})");
    }
    let journey = rec.journeys.summary();
    println!(
        "ROW| {label} | {} | {} | {done} | {rate:.0} | {} | {} | {} | {cpu} | {} |",
        outcome.scenario.name(),
        outcome.clients,
        journey.map_or("—".to_owned(), |s| Ms(s.p50).to_string()),
        journey.map_or("—".to_owned(), |s| Ms(s.p99).to_string()),
        per_op.join(", "),
        rec.failures.total(),
    );
}
