//! [`Recorder`]: records the worker's finished attempts in batches, one
//! store write ([`DeliveryStore::record_attempts`]) for many attempts
//! instead of one each.
//!
//! Each delivery task hands its finished attempt over and waits for the
//! answer; one loop takes whatever has arrived, waits up to
//! [`FLUSH_AFTER`] for more (or until [`FLUSH_AT`] are there), writes them
//! in one transaction and answers each. Attempts that arrive during a
//! write wait for the next, so the batches grow with the load and the
//! write rate stays one at a time: with a write taking `w`, the worker
//! records up to [`FLUSH_AT`]` ÷ w` attempts a second where one write per
//! attempt managed a few dozen per `w`. Nothing changes for the
//! guarantees: an attempt counts only once its write commits (the
//! delivery stays pending and leased until then), a failed write is tried
//! again, and one still failing leaves its deliveries to be tried again
//! when their lease runs out (at least once).

use std::sync::Arc;
use std::time::Duration;

use orders_core::ports::{AttemptRecord, DeliveryStore, RecordOutcome, StoreError};
use tokio::sync::{mpsc, oneshot};

/// The most attempts one write records.
pub(super) const FLUSH_AT: usize = 256;

/// How long the first attempt of a batch waits for others to join it.
pub(super) const FLUSH_AFTER: Duration = Duration::from_millis(5);

/// How many times a write that failed is tried (with a short pause
/// between) before its attempts are left to their leases.
const WRITE_TRIES: u32 = 3;

/// A finished attempt on its way to the store, and where to answer.
struct Finished {
    record: AttemptRecord,
    answer: oneshot::Sender<Result<RecordOutcome, StoreError>>,
}

/// The sending side of the recording loop; see the module docs. The loop
/// ends when the last clone of the recorder is dropped, after writing what
/// it was handed.
#[derive(Clone)]
pub(super) struct Recorder {
    sender: mpsc::UnboundedSender<Finished>,
}

impl Recorder {
    /// Starts the loop on the current runtime, writing to `store`.
    pub(super) fn start(store: Arc<dyn DeliveryStore>) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(store, receiver));
        Self { sender }
    }

    /// Records `record` with the next batch, and says what became of it.
    ///
    /// # Errors
    /// The store's, when every try of its batch's write failed.
    pub(super) async fn record(&self, record: AttemptRecord) -> Result<RecordOutcome, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.sender
            .send(Finished { record, answer })
            .map_err(|_| StoreError::Unavailable("the attempt recorder stopped".into()))?;
        answered.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the attempt recorder stopped".into(),
            ))
        })
    }
}

async fn run(store: Arc<dyn DeliveryStore>, mut receiver: mpsc::UnboundedReceiver<Finished>) {
    let mut batch = Vec::with_capacity(FLUSH_AT);
    while let Some(first) = receiver.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + FLUSH_AFTER;
        while batch.len() < FLUSH_AT {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(next)) => batch.push(next),
                Ok(None) | Err(_) => break,
            }
        }
        write(store.as_ref(), std::mem::take(&mut batch)).await;
    }
}

/// Writes `batch` in one transaction (tried up to [`WRITE_TRIES`] times)
/// and answers each of its attempts.
async fn write(store: &dyn DeliveryStore, batch: Vec<Finished>) {
    let records: Vec<AttemptRecord> = batch.iter().map(|f| f.record.clone()).collect();
    let mut tries = 0;
    let written = loop {
        tries += 1;
        match store.record_attempts(&records).await {
            Ok(outcomes) => break Ok(outcomes),
            Err(error) if tries < WRITE_TRIES => {
                tracing::debug!(%error, tries, "webhook attempts not recorded yet, trying again");
                tokio::time::sleep(Duration::from_millis(20 * u64::from(tries))).await;
            }
            Err(error) => break Err(error),
        }
    };
    match written {
        Ok(outcomes) => {
            for (finished, outcome) in batch.into_iter().zip(outcomes) {
                let _ = finished.answer.send(Ok(outcome));
            }
        }
        Err(error) => {
            for finished in batch {
                let _ = finished.answer.send(Err(error.clone()));
            }
        }
    }
}
