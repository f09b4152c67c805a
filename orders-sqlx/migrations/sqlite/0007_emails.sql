-- Customer emails: at most one per order event, recorded by the
-- `mailer` consumer (its cursor is a row of orders_consumers) and sent
-- with the webhooks' backoff. Instants are RFC 3339 text. A mail is held by
-- the claim whose `lease_token` it carries until `lease_until`.
CREATE TABLE orders_mails (
    id              TEXT    NOT NULL PRIMARY KEY,
    kind            TEXT    NOT NULL CHECK (kind IN ('placed', 'payment_needs_action', 'shipped', 'delivered', 'cancelled', 'refunded')),
    event_id        INTEGER NOT NULL UNIQUE REFERENCES orders_order_events (id),
    order_id        TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL CHECK (attempts >= 0),
    failures        INTEGER NOT NULL CHECK (failures >= 0),
    next_attempt_at TEXT    NOT NULL,
    since           TEXT    NOT NULL,
    last_error      TEXT,
    created_at      TEXT    NOT NULL,
    delivered_at    TEXT,
    lease_token     TEXT,
    lease_until     TEXT
) WITHOUT ROWID;
CREATE INDEX orders_mails_due ON orders_mails (event_id) WHERE status = 'pending';
CREATE INDEX orders_mails_order ON orders_mails (order_id, event_id);
