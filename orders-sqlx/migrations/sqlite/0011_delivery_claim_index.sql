-- A claim takes each webhook's due deliveries oldest first, no more than
-- the caller has room for to that webhook (numbered per webhook), so the
-- pending index leads with the webhook. It replaces the one on the event
-- alone (the counts of pending deliveries read any pending index).
DROP INDEX orders_deliveries_due;
CREATE INDEX orders_deliveries_due ON orders_deliveries (webhook_id, event_id) WHERE status = 'pending';
