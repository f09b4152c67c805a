-- The mailer's fan-out follows the same `(txid, id)` cursor as the
-- webhooks' (migration 11) instead of a settled id read under a SHARE lock
-- on the events. Its cursor has passed every event up to `position`: it
-- starts at the oldest transaction that wrote a later event (at the newest
-- transaction when there is none), so it passes none of those twice that
-- it had, and loses none it had not (an event it meets again makes its
-- mail once: mails are unique per event).
UPDATE orders_consumers AS c SET position_txid = COALESCE(
    (SELECT min(txid) FROM orders_order_events WHERE id > c.position),
    (SELECT max(txid) FROM orders_order_events),
    0)
WHERE c.name = 'mailer';
