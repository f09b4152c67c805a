-- Outbound webhooks: the endpoints, the consumers' cursors over the order
-- events, and one delivery per (webhook, event). Instants are RFC 3339
-- text, which sorts as time (`codec::ts`). A delivery is held by the claim
-- whose `lease_token` it carries until `lease_until`.
CREATE TABLE orders_webhooks (
    seq         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    url         TEXT    NOT NULL,
    events      TEXT    NOT NULL,
    secret      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    after_event BIGINT
);

CREATE TABLE orders_consumers (
    name     TEXT    NOT NULL PRIMARY KEY,
    position BIGINT  NOT NULL CHECK (position >= 0)
);

CREATE TABLE orders_deliveries (
    id              TEXT    NOT NULL PRIMARY KEY,
    webhook_id      TEXT    NOT NULL REFERENCES orders_webhooks (id) ON DELETE CASCADE,
    event_id        BIGINT  NOT NULL REFERENCES orders_order_events (id),
    order_id        TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        BIGINT  NOT NULL CHECK (attempts >= 0),
    failures        BIGINT  NOT NULL CHECK (failures >= 0),
    next_attempt_at TEXT    NOT NULL,
    since           TEXT    NOT NULL,
    last_error      TEXT,
    created_at      TEXT    NOT NULL,
    delivered_at    TEXT,
    lease_token     TEXT,
    lease_until     TEXT,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX orders_deliveries_due ON orders_deliveries (event_id) WHERE status = 'pending';
CREATE INDEX orders_deliveries_line ON orders_deliveries (webhook_id, order_id, event_id) WHERE status = 'pending';
