-- A claim takes each webhook's due deliveries oldest first, no more than
-- the caller has room for to that webhook (a LATERAL per webhook), so the
-- pending index leads with the webhook. It replaces the one on the event
-- alone (the counts of pending deliveries read any pending index).
-- A claim changes only the lease columns, which no index holds: with room
-- left on the page, PostgreSQL updates such a row in place (HOT) and
-- touches no index.
DROP INDEX orders_deliveries_due;
CREATE INDEX orders_deliveries_due ON orders_deliveries (webhook_id, event_id) WHERE status = 'pending';
ALTER TABLE orders_deliveries SET (fillfactor = 80);
