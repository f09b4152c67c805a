//! The writer's batches on its inline connection (see `sqlite::inline`).

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use orders_core::ports::StoreError;

use super::{Job, Kind, Ran, Writer};
use crate::error::Fail;
use crate::sqlite::checkpoint;
use crate::sqlite::inline;

/// The longest pause between two attempts at another connection's write
/// lock.
const MAX_PAUSE: Duration = Duration::from_millis(10);

impl Writer {
    /// Opens a batch on the inline connection (opening that first), the
    /// pool's connection held meanwhile.
    pub(super) async fn open_inline(&mut self) -> Result<(), StoreError> {
        if self.lite.is_none() {
            let pooled = self.conn.as_mut().expect("the writer has its connection");
            let memory_name = self.pool.connect_options().get_filename().to_owned();
            let opened =
                inline::open(pooled, &memory_name, checkpoint::WRITER_AUTOCHECKPOINT).await;
            match opened {
                Ok(lite) => self.lite = Some(lite),
                Err(e) => return Err(self.not_opened(Fail::Store(e))),
            }
        }
        // Another connection's write lock (a host's, another process's):
        // wait for it between attempts, off the runtime's thread, for as
        // long as the pool's busy timeout.
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let lite = self.lite.as_ref().expect("just opened");
            let Err(e) = lite.conn.execute_batch("BEGIN IMMEDIATE") else {
                break;
            };
            let fail = Fail::Lite(e);
            if fail.is_retryable() && started.elapsed() < lite.busy {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
                continue;
            }
            return Err(self.not_opened(fail));
        }
        self.open = true;
        self.on_lite = true;
        Ok(())
    }

    /// Runs `job` on the inline connection: behind a savepoint of its own
    /// if it has several statements, again while the file is busy, undone
    /// if it fails.
    pub(super) fn run_inline(&mut self, job: &mut dyn Job) -> Ran {
        let lite = &self
            .lite
            .as_ref()
            .expect("an inline batch has its connection")
            .conn;
        let several = job.kind() == Kind::Several;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if several && let Err(e) = lite.execute_batch("SAVEPOINT w") {
                return Ran::broken(self.broken_inline(e));
            }
            let attempted = std::panic::catch_unwind(AssertUnwindSafe(|| job.attempt_inline(lite)));
            let undo = match &attempted {
                Ok(Ok(())) if several => lite.execute_batch("RELEASE w"),
                Ok(Ok(())) => Ok(()),
                _ if several => lite.execute_batch("ROLLBACK TO w; RELEASE w"),
                _ => Ok(()),
            };
            // Some errors (an I/O error, a full disk) roll the whole
            // transaction back: the batch has ended.
            let gone = undo.err().map(|e| e.to_string()).or_else(|| {
                lite.is_autocommit()
                    .then(|| "the transaction is gone".to_owned())
            });
            match attempted {
                Ok(Ok(())) => {
                    return match gone {
                        Some(e) => Ran::broken(self.broken_inline(e)),
                        None => Ran::default(),
                    };
                }
                Ok(Err(fail)) => {
                    if let Some(e) = gone {
                        return Ran::broken(self.broken_inline(e));
                    }
                    if fail.is_retryable() && attempt < crate::sqlite::ATTEMPTS {
                        continue;
                    }
                    job.refused(fail);
                    return Ran::default();
                }
                Err(panic) => {
                    return Ran {
                        panic: Some(panic),
                        broken: gone.map(|e| self.broken_inline(e)),
                    };
                }
            }
        }
    }

    /// As [`broken`](Self::broken), for a batch on the inline connection.
    pub(super) fn broken_inline(&mut self, e: impl std::fmt::Display) -> StoreError {
        tracing::warn!(error = %e, "a write batch lost its transaction; every write of it fails");
        if let Some(lite) = &self.lite {
            let _ = lite.conn.execute_batch("ROLLBACK");
        }
        self.open = false;
        StoreError::Unavailable(format!("the write batch was rolled back: {e}"))
    }
}
