//! Mail rows to domain values and back, and the statements both backends
//! share (the same columns and representations on each).

use chrono::{DateTime, Utc};
use orders_core::ids::{DeliveryId, EventId, OrderId};
use orders_core::mail::{Mail, MailKind};
use orders_core::ports::{ClaimedMail, StoreError};
use orders_core::webhook::DeliveryStatus;

use crate::codec::{Get, bad, ts};

/// The columns [`mail`] reads, in the order [`MailRow`] binds them.
pub(crate) const MAIL_COLUMNS: &str = "id, kind, event_id, order_id, status, attempts, failures, next_attempt_at, since, last_error, created_at, delivered_at";

fn instant(what: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| bad(what, e))
}

pub(crate) fn mail(row: &impl Get) -> Result<Mail, StoreError> {
    let status = row.text("status")?;
    let kind = row.text("kind")?;
    let count = |col: &str| -> Result<u32, StoreError> {
        let n = row.int(col)?;
        u32::try_from(n).map_err(|_| bad(col, n))
    };
    let event = row.int("event_id")?;
    Ok(Mail {
        id: DeliveryId::parse(&row.text("id")?).map_err(|e| bad("mail id", e))?,
        kind: MailKind::parse(&kind).ok_or_else(|| bad("kind", &kind))?,
        event_id: u64::try_from(event)
            .map(EventId::new)
            .map_err(|_| bad("event id", event))?,
        order_id: OrderId::parse(&row.text("order_id")?).map_err(|e| bad("order id", e))?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| bad("status", &status))?,
        attempts: count("attempts")?,
        failures: count("failures")?,
        next_attempt_at: instant("next_attempt_at", &row.text("next_attempt_at")?)?,
        since: instant("since", &row.text("since")?)?,
        last_error: row.opt_text("last_error")?,
        created_at: instant("created_at", &row.text("created_at")?)?,
        delivered_at: row
            .opt_text("delivered_at")?
            .map(|t| instant("delivered_at", &t))
            .transpose()?,
    })
}

/// A mail as the values its columns take.
pub(crate) struct MailRow {
    pub(crate) id: String,
    pub(crate) kind: &'static str,
    pub(crate) event_id: i64,
    pub(crate) order_id: String,
    pub(crate) status: &'static str,
    pub(crate) attempts: i64,
    pub(crate) failures: i64,
    pub(crate) next_attempt_at: String,
    pub(crate) since: String,
    pub(crate) last_error: Option<String>,
    pub(crate) created_at: String,
    pub(crate) delivered_at: Option<String>,
}

impl MailRow {
    pub(crate) fn of(m: &Mail) -> Result<Self, StoreError> {
        Ok(Self {
            id: m.id.as_str().to_owned(),
            kind: m.kind.as_str(),
            event_id: crate::codec::to_i64(m.event_id.get())?,
            order_id: m.order_id.as_str().to_owned(),
            status: m.status.as_str(),
            attempts: i64::from(m.attempts),
            failures: i64::from(m.failures),
            next_attempt_at: ts(m.next_attempt_at),
            since: ts(m.since),
            last_error: m.last_error.clone(),
            created_at: ts(m.created_at),
            delivered_at: m.delivered_at.map(ts),
        })
    }

    /// The values of its columns, in order (SQLite's writes: see
    /// `outbox::batch`).
    #[cfg(feature = "sqlite")]
    pub(crate) fn columns(self) -> crate::outbox::batch::Columns {
        [
            self.id.into(),
            self.kind.to_owned().into(),
            self.event_id.into(),
            self.order_id.into(),
            self.status.to_owned().into(),
            self.attempts.into(),
            self.failures.into(),
            self.next_attempt_at.into(),
            self.since.into(),
            self.last_error.into(),
            self.created_at.into(),
            self.delivered_at.into(),
        ]
    }
}

/// Claimed mails with their events, oldest event first; a mail whose event
/// is missing is left out.
pub(crate) fn assemble(
    mails: Vec<Mail>,
    events: &[orders_core::order::OrderEvent],
) -> Vec<ClaimedMail> {
    let mut claimed: Vec<_> = mails
        .into_iter()
        .filter_map(|mail| {
            let event = events.iter().find(|e| e.id == mail.event_id)?.clone();
            Some(ClaimedMail { mail, event })
        })
        .collect();
    claimed.sort_by_key(|c| c.event.id);
    claimed
}

/// Statements both backends run as written (`$n` placeholders).
pub(crate) mod sql {
    use std::sync::LazyLock;

    use super::MAIL_COLUMNS;

    /// Due at `$1`, not leased: claim up to `$2` under token `$3` until
    /// `$4`, oldest event first, only the earliest pending mail of each
    /// order. `{lock}` is PostgreSQL's row locking (empty on SQLite).
    pub(crate) fn claim(lock: &str) -> String {
        format!(
            "UPDATE orders_mails SET lease_token = $3, lease_until = $4 WHERE id IN (
                SELECT m.id FROM orders_mails m
                WHERE m.status = 'pending' AND m.next_attempt_at <= $1
                  AND (m.lease_until IS NULL OR m.lease_until <= $1)
                  AND NOT EXISTS (
                      SELECT 1 FROM orders_mails e
                      WHERE e.status = 'pending' AND e.order_id = m.order_id
                        AND e.event_id < m.event_id)
                ORDER BY m.event_id
                LIMIT $2 {lock})
             RETURNING {MAIL_COLUMNS}"
        )
    }

    /// Stores an attempt's result (`$2` to `$8`) on `$1` if token `$9`
    /// still holds its lease, and ends the lease.
    pub(crate) static RECORD_ATTEMPT: &str = "UPDATE orders_mails SET status = $2, attempts = $3, failures = $4, \
         next_attempt_at = $5, since = $6, last_error = $7, delivered_at = $8, \
         lease_token = NULL, lease_until = NULL \
         WHERE id = $1 AND lease_token = $9";

    pub(crate) static MAIL_EXISTS: &str = "SELECT count(*) FROM orders_mails WHERE id = $1";

    /// Makes `$1` pending again with a new window `$2` if it is dead.
    pub(crate) static RETRY: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE orders_mails SET status = 'pending', failures = 0, next_attempt_at = $2, \
             since = $2, lease_token = NULL, lease_until = NULL \
             WHERE id = $1 AND status = 'dead' RETURNING {MAIL_COLUMNS}"
        )
    });

    pub(crate) static OF_ORDER: LazyLock<String> = LazyLock::new(|| {
        format!("SELECT {MAIL_COLUMNS} FROM orders_mails WHERE order_id = $1 ORDER BY event_id")
    });

    pub(crate) static PENDING: &str = "SELECT count(*) FROM orders_mails WHERE status = 'pending'";

    pub(crate) static DEAD: &str = "SELECT count(*) FROM orders_mails WHERE status = 'dead'";

    /// Up to `$2` mails in status `$1`, oldest event first.
    pub(crate) static IN_STATUS: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {MAIL_COLUMNS} FROM orders_mails WHERE status = $1 ORDER BY event_id LIMIT $2"
        )
    });
}

/// The most mails one insert statement carries on PostgreSQL: 12 values a
/// row stays under its limit of 65,535 bound values (SQLite's inserts use
/// `outbox::batch::INSERT_CHUNK`).
#[cfg(feature = "postgres")]
pub(crate) const INSERT_CHUNK: usize = 1_000;

/// The mail statements as functions over sqlx's connection type
/// (`$conn`) and database type (`$db`): PostgreSQL's (SQLite runs its
/// own, in `sqlite::mails`, on the writer's connection).
#[cfg(feature = "postgres")]
macro_rules! shared_mail_fns {
    ($conn:ty, $db:ty) => {
        /// Records the mail each of `events` calls for, once, a statement
        /// per [`INSERT_CHUNK`](crate::mails::INSERT_CHUNK) mails.
        async fn insert_mails(
            conn: &mut $conn,
            events: &[::orders_core::order::OrderEvent],
            now: ::chrono::DateTime<::chrono::Utc>,
        ) -> Result<(), ::orders_core::ports::StoreError> {
            let mails: Vec<::orders_core::mail::Mail> = events
                .iter()
                .filter_map(|event| ::orders_core::mail::Mail::plan(event, now))
                .collect();
            for chunk in mails.chunks($crate::mails::INSERT_CHUNK) {
                let rows = chunk
                    .iter()
                    .map($crate::mails::MailRow::of)
                    .collect::<Result<Vec<_>, _>>()?;
                let mut query = sqlx::QueryBuilder::<$db>::new(format!(
                    "INSERT INTO orders_mails ({}) ",
                    $crate::mails::MAIL_COLUMNS
                ));
                query.push_values(rows, |mut row, r| {
                    row.push_bind(r.id)
                        .push_bind(r.kind)
                        .push_bind(r.event_id)
                        .push_bind(r.order_id)
                        .push_bind(r.status)
                        .push_bind(r.attempts)
                        .push_bind(r.failures)
                        .push_bind(r.next_attempt_at)
                        .push_bind(r.since)
                        .push_bind(r.last_error)
                        .push_bind(r.created_at)
                        .push_bind(r.delivered_at);
                });
                query.push(" ON CONFLICT (event_id) DO NOTHING");
                query
                    .build()
                    .execute(&mut *conn)
                    .await
                    .map_err($crate::error::any)?;
            }
            Ok(())
        }

        async fn record_mail(
            conn: &mut $conn,
            m: &::orders_core::mail::Mail,
            token: &str,
        ) -> Result<(), ::orders_core::ports::StoreError> {
            let r = $crate::mails::MailRow::of(m)?;
            let done = sqlx::query($crate::mails::sql::RECORD_ATTEMPT)
                .bind(r.id)
                .bind(r.status)
                .bind(r.attempts)
                .bind(r.failures)
                .bind(r.next_attempt_at)
                .bind(r.since)
                .bind(r.last_error)
                .bind(r.delivered_at)
                .bind(token)
                .execute(&mut *conn)
                .await
                .map_err($crate::error::any)?;
            if done.rows_affected() == 1 {
                return Ok(());
            }
            let exists: i64 = sqlx::query_scalar($crate::mails::sql::MAIL_EXISTS)
                .bind(m.id.as_str())
                .fetch_one(&mut *conn)
                .await
                .map_err($crate::error::any)?;
            Err(if exists == 0 {
                ::orders_core::ports::StoreError::NotFound
            } else {
                ::orders_core::ports::StoreError::Conflict
            })
        }

        async fn retry_mail_row(
            conn: &mut $conn,
            id: &::orders_core::ids::DeliveryId,
            now: ::chrono::DateTime<::chrono::Utc>,
        ) -> Result<::orders_core::mail::Mail, ::orders_core::ports::StoreError> {
            let exists: i64 = sqlx::query_scalar($crate::mails::sql::MAIL_EXISTS)
                .bind(id.as_str())
                .fetch_one(&mut *conn)
                .await
                .map_err($crate::error::any)?;
            if exists == 0 {
                return Err(::orders_core::ports::StoreError::NotFound);
            }
            let row = sqlx::query(sqlx::AssertSqlSafe($crate::mails::sql::RETRY.as_str()))
                .bind(id.as_str())
                .bind($crate::codec::ts(now))
                .fetch_optional(&mut *conn)
                .await
                .map_err($crate::error::any)?;
            row.as_ref()
                .map($crate::mails::mail)
                .transpose()?
                .ok_or(::orders_core::ports::StoreError::Conflict)
        }
    };
}
#[cfg(feature = "postgres")]
pub(crate) use shared_mail_fns;
