//! The mail store port on SQLite. One writer at a time: event ids are
//! committed in id order, so the mailer's cursor may pass every event it
//! sees, and a claim (one `UPDATE … RETURNING` on the writer) cannot meet
//! another.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orders_core::ids::{DeliveryId, OrderId};
use orders_core::mail::{MAIL_CONSUMER, Mail};
use orders_core::order::OrderEvent;
use orders_core::ports::{ClaimedMail, Lease, MailStore, StoreError};
use orders_core::webhook::DeliveryStatus;
use rusqlite::Connection;

use super::SqliteStore;
use super::deliveries;
use super::inline::Stmt;
use crate::codec::ts;
use crate::error::{self, Fail};
use crate::mails::{self, sql};
use crate::outbox::batch::{insert_rows, record_one};
use crate::outbox::sql as cursor;
use crate::statements::Bind;

/// The events after the mailer's position (at most `limit`) made into
/// mails, the position moved past them; how many events it took.
fn fan_out(conn: &Connection, limit: usize, now: DateTime<Utc>) -> Result<usize, Fail> {
    let events = deliveries::next_events(conn, MAIL_CONSUMER, limit)?;
    let Some(last) = events.last().map(|e| e.id) else {
        return Ok(0);
    };
    insert_mails(conn, &events, now)?;
    deliveries::move_consumer(conn, MAIL_CONSUMER, last)?;
    Ok(events.len())
}

/// Records the mail each of `events` calls for, once.
fn insert_mails(conn: &Connection, events: &[OrderEvent], now: DateTime<Utc>) -> Result<(), Fail> {
    let planned: Vec<Mail> = events
        .iter()
        .filter_map(|event| Mail::plan(event, now))
        .collect();
    let rows = planned
        .iter()
        .map(|m| mails::MailRow::of(m).map(mails::MailRow::columns))
        .collect::<Result<Vec<_>, _>>()?;
    insert_rows(conn, "orders_mails", mails::MAIL_COLUMNS, "event_id", &rows)
}

/// Leases up to `limit` mails due at `now`.
fn claim(
    conn: &Connection,
    now: DateTime<Utc>,
    lease: &Lease,
    limit: usize,
) -> Result<Vec<ClaimedMail>, Fail> {
    let rows = Stmt::new(sql::claim(""))
        .text(&ts(now))
        .int(i64::try_from(limit).unwrap_or(i64::MAX))
        .text(&lease.token)
        .text(&ts(lease.until))
        .fetch_all(conn)?;
    let claimed: Vec<Mail> = rows.iter().map(mails::mail).collect::<Result<_, _>>()?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let events = deliveries::events_of(conn, claimed.iter().map(|m| m.event_id))?;
    Ok(mails::assemble(claimed, &events))
}

/// Stores mail `m`'s attempt if its lease (`token`) still holds it.
fn record_mail(conn: &Connection, m: &Mail, token: &str) -> Result<(), Fail> {
    let row = mails::MailRow::of(m)?.columns();
    record_one(conn, sql::RECORD_ATTEMPT, sql::MAIL_EXISTS, row, token)
}

/// Makes dead mail `id` pending again.
fn retry_mail_row(conn: &Connection, id: &DeliveryId, now: DateTime<Utc>) -> Result<Mail, Fail> {
    if !exists(conn, id.as_str())? {
        return Err(StoreError::NotFound.into());
    }
    let row = Stmt::new(sql::RETRY.as_str())
        .text(id.as_str())
        .text(&ts(now))
        .fetch_optional(conn)?;
    Ok(row
        .as_ref()
        .map(mails::mail)
        .transpose()?
        .ok_or(StoreError::Conflict)?)
}

/// Whether mail `id` exists.
fn exists(conn: &Connection, id: &str) -> Result<bool, Fail> {
    let n = Stmt::new(sql::MAIL_EXISTS)
        .text(id)
        .fetch_optional(conn)?
        .map(|row| row.first_int())
        .transpose()?
        .unwrap_or(0);
    Ok(n != 0)
}

#[async_trait]
impl MailStore for SqliteStore {
    async fn fan_out_mail(&self, limit: usize, now: DateTime<Utc>) -> Result<usize, StoreError> {
        // A read first: an idle worker never takes the file's write lock.
        let position: Option<i64> = sqlx::query_scalar(cursor::CONSUMER_POSITION)
            .bind(MAIL_CONSUMER)
            .fetch_optional(&self.reader)
            .await
            .map_err(error::any)?;
        let last: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM orders_order_events")
            .fetch_one(&self.reader)
            .await
            .map_err(error::any)?;
        if last.is_none_or(|last| last <= position.unwrap_or(0)) {
            return Ok(0);
        }
        self.batcher
            .several("mail", (limit, now), |conn, (limit, now)| {
                fan_out(conn, *limit, *now)
            })
            .await
    }

    async fn claim_mails(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        limit: usize,
    ) -> Result<Vec<ClaimedMail>, StoreError> {
        // A read first: with nothing due, no write lock.
        let due: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM orders_mails WHERE status = 'pending' \
             AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1))",
        )
        .bind(ts(now))
        .fetch_one(&self.reader)
        .await
        .map_err(error::any)?;
        if !due {
            return Ok(Vec::new());
        }
        self.batcher
            .several(
                "mail",
                (now, lease.clone(), limit),
                |conn, (now, lease, limit)| claim(conn, *now, lease, *limit),
            )
            .await
    }

    async fn record_mail_attempt(&self, mail: &Mail, lease_token: &str) -> Result<(), StoreError> {
        self.batcher
            .several(
                "mail",
                (mail.clone(), lease_token.to_owned()),
                |conn, (mail, lease_token)| record_mail(conn, mail, lease_token),
            )
            .await
    }

    async fn retry_mail(&self, id: &DeliveryId, now: DateTime<Utc>) -> Result<Mail, StoreError> {
        self.batcher
            .several("mail", (id.clone(), now), |conn, (id, now)| {
                retry_mail_row(conn, id, *now)
            })
            .await
    }

    async fn order_mails(&self, order: &OrderId) -> Result<Vec<Mail>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql::OF_ORDER.as_str()))
            .bind(order.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(error::any)?;
        rows.iter().map(mails::mail).collect()
    }

    async fn pending_mails(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(sql::PENDING)
            .fetch_one(&self.reader)
            .await
            .map_err(error::any)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn dead_mails(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(sql::DEAD)
            .fetch_one(&self.reader)
            .await
            .map_err(error::any)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn mails_in_status(
        &self,
        status: DeliveryStatus,
        limit: usize,
    ) -> Result<Vec<Mail>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql::IN_STATUS.as_str()))
            .bind(status.as_str())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.reader)
            .await
            .map_err(error::any)?;
        rows.iter().map(mails::mail).collect()
    }
}
