-- The fan-out without a table lock: a consumer's cursor moves along the
-- events in the order of their writing transaction (`txid`, already
-- recorded for the notifier) and then id, and passes only events whose
-- transaction is older than every transaction still running
-- (`pg_snapshot_xmin`): no event can appear behind such a cursor, and no
-- writer waits for it.
--
-- `position_txid` is the transaction of the last event passed
-- (`position` stays its id). A cursor of before this migration has passed
-- every event up to `position`: it starts at the oldest transaction that
-- wrote a later event (at the newest transaction when there is none), so
-- it passes none of those twice that it had, and loses none it had not
-- (an event it meets again is recorded once: deliveries are unique per
-- webhook and event).
ALTER TABLE orders_consumers ADD COLUMN position_txid BIGINT NOT NULL DEFAULT 0;

UPDATE orders_consumers AS c SET position_txid = COALESCE(
    (SELECT min(txid) FROM orders_order_events WHERE id > c.position),
    (SELECT max(txid) FROM orders_order_events),
    0);

CREATE INDEX orders_order_events_fan_out ON orders_order_events (txid, id);

-- The notifier's listener reads by `txid` too; the index above serves it,
-- so the one on `txid` alone would only cost every event's insert.
DROP INDEX orders_order_events_txid;
