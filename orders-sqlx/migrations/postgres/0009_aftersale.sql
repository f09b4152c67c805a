-- After the sale (issue 18): an order can be `partially_shipped`, and it
-- has fulfilments, returns, refunds and notes.

ALTER TABLE orders_orders DROP CONSTRAINT orders_orders_status_check;
ALTER TABLE orders_orders ADD CONSTRAINT orders_orders_status_check CHECK (status IN
    ('pending', 'awaiting_payment', 'paid', 'processing', 'partially_shipped', 'shipped', 'delivered',
     'cancelled', 'refunded'));

-- After the sale (issue 18). Each record belongs to one order and keeps
-- its place among the order's records of its kind (`position`, 1, 2, ...).
-- A record's `lines` are a JSON array of `{product_id, quantity}`: they are
-- only ever read and written with their record, and the engine checks them
-- against the order's lines when it loads the order.

-- Units handed to a carrier; `amount_minor` is the fulfilment's share of
-- the order's total (what it captures under `on_shipment`).
CREATE TABLE orders_fulfilments (
    id              TEXT    NOT NULL PRIMARY KEY,
    order_id        TEXT    NOT NULL REFERENCES orders_orders (id),
    position        BIGINT  NOT NULL CHECK (position >= 1),
    status          TEXT    NOT NULL CHECK (status IN ('shipped', 'delivered')),
    lines           TEXT    NOT NULL,  -- JSON
    carrier         TEXT,
    tracking_number TEXT    NOT NULL,
    amount_minor    BIGINT  NOT NULL CHECK (amount_minor >= 0),
    shipped_at      TEXT    NOT NULL,
    delivered_at    TEXT,
    CONSTRAINT orders_fulfilments_order_position_key UNIQUE (order_id, position)
);

-- A customer's request to send units back.
CREATE TABLE orders_returns (
    id          TEXT    NOT NULL PRIMARY KEY,
    order_id    TEXT    NOT NULL REFERENCES orders_orders (id),
    position    BIGINT  NOT NULL CHECK (position >= 1),
    status      TEXT    NOT NULL CHECK (status IN
                    ('requested', 'approved', 'rejected', 'received', 'refunded')),
    lines       TEXT    NOT NULL,  -- JSON
    reason      TEXT    NOT NULL,
    note        TEXT,
    restocked   BOOLEAN NOT NULL,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    CONSTRAINT orders_returns_order_position_key UNIQUE (order_id, position)
);

-- Money given back: `pending` while the provider is asked (it counts
-- against what is left to refund), then `succeeded`; a refund the provider
-- refused is deleted, its event the only trace.
CREATE TABLE orders_refunds (
    id           TEXT    NOT NULL PRIMARY KEY,
    order_id     TEXT    NOT NULL REFERENCES orders_orders (id),
    position     BIGINT  NOT NULL CHECK (position >= 1),
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded')),
    lines        TEXT    NOT NULL,  -- JSON
    shipping     BOOLEAN NOT NULL,
    amount_minor BIGINT  NOT NULL CHECK (amount_minor >= 0),
    note         TEXT,
    return_id    TEXT    REFERENCES orders_returns (id),
    created_at   TEXT    NOT NULL,
    CONSTRAINT orders_refunds_order_position_key UNIQUE (order_id, position)
);

-- Notes on an order; an internal one (`visible_to_customer` false) never
-- reaches the customer.
CREATE TABLE orders_notes (
    id                  TEXT    NOT NULL PRIMARY KEY,
    order_id            TEXT    NOT NULL REFERENCES orders_orders (id),
    position            BIGINT  NOT NULL CHECK (position >= 1),
    text                TEXT    NOT NULL,
    visible_to_customer BOOLEAN NOT NULL,
    author              TEXT    NOT NULL,
    created_at          TEXT    NOT NULL,
    CONSTRAINT orders_notes_order_position_key UNIQUE (order_id, position)
);
