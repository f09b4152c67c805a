-- After the sale (issue 18): an order can be `partially_shipped`, and it
-- has fulfilments, returns, refunds and notes.
--
-- SQLite cannot alter a CHECK, so `orders_orders` is rebuilt for its new
-- status exactly as 0005_payments.sql did and for the same reasons: inside
-- the migration's transaction, with the foreign keys of its children
-- (`orders_order_lines`, `orders_order_events`, `orders_idempotency_keys`)
-- deferred to the commit, the old rows copied aside first and the new
-- table filled after the old one is dropped, so that every child finds its
-- parent again before the commit checks it.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE orders_orders_aftersale_copy AS SELECT * FROM orders_orders;

DROP TABLE orders_orders;

CREATE TABLE orders_orders (
    number            INTEGER PRIMARY KEY,  -- 1, 2, 3, ...: the next is max + 1 under the write lock
    id                TEXT    NOT NULL,
    customer_id       TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN
                          ('pending', 'awaiting_payment', 'paid', 'processing', 'partially_shipped',
                           'shipped', 'delivered', 'cancelled', 'refunded')),
    currency          TEXT    NOT NULL,
    email             TEXT    NOT NULL,
    email_lower       TEXT    NOT NULL,
    subtotal_minor    INTEGER NOT NULL,
    discount_minor    INTEGER NOT NULL,
    shipping_minor    INTEGER NOT NULL,
    tax_minor         INTEGER NOT NULL,
    total_minor       INTEGER NOT NULL CHECK (total_minor >= 0),
    discount_code     TEXT    REFERENCES orders_discounts (code),
    shipping_address  TEXT    NOT NULL,  -- JSON
    shipping_method   TEXT    NOT NULL,
    payment_method    TEXT    NOT NULL,
    card_brand        TEXT,
    card_last4        TEXT,
    payment_status    TEXT    NOT NULL CHECK (payment_status IN
                          ('pending', 'requires_action', 'authorized', 'captured', 'partially_refunded',
                           'refunded', 'voided', 'failed')),
    payment_reference TEXT,
    tracking_number   TEXT,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL,
    version           INTEGER NOT NULL CHECK (version >= 1),
    payment_authorized_minor INTEGER NOT NULL CHECK (payment_authorized_minor >= 0),
    payment_captured_minor   INTEGER NOT NULL CHECK (payment_captured_minor >= 0),
    payment_refunded_minor   INTEGER NOT NULL CHECK (payment_refunded_minor >= 0),
    payment_next_action      TEXT,  -- JSON, while payment_status is requires_action
    CONSTRAINT orders_orders_id_key UNIQUE (id)
);

INSERT INTO orders_orders (number, id, customer_id, status, currency, email, email_lower, subtotal_minor,
    discount_minor, shipping_minor, tax_minor, total_minor, discount_code, shipping_address, shipping_method,
    payment_method, card_brand, card_last4, payment_status, payment_reference, tracking_number, created_at,
    updated_at, version, payment_authorized_minor, payment_captured_minor, payment_refunded_minor,
    payment_next_action)
SELECT number, id, customer_id, status, currency, email, email_lower, subtotal_minor,
    discount_minor, shipping_minor, tax_minor, total_minor, discount_code, shipping_address, shipping_method,
    payment_method, card_brand, card_last4, payment_status, payment_reference, tracking_number, created_at,
    updated_at, version, payment_authorized_minor, payment_captured_minor, payment_refunded_minor,
    payment_next_action
FROM orders_orders_aftersale_copy;

DROP TABLE orders_orders_aftersale_copy;

CREATE INDEX orders_orders_customer_number ON orders_orders (customer_id, number DESC);
-- Also serves the sweeper's `status = 'awaiting_payment' … ORDER BY number`.
CREATE INDEX orders_orders_status_number ON orders_orders (status, number DESC);
CREATE INDEX orders_orders_email_number ON orders_orders (email_lower, number DESC);
-- A provider's webhook names the payment by its reference.
CREATE INDEX orders_orders_payment_reference ON orders_orders (payment_reference)
    WHERE payment_reference IS NOT NULL;

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
    position        INTEGER NOT NULL CHECK (position >= 1),
    status          TEXT    NOT NULL CHECK (status IN ('shipped', 'delivered')),
    lines           TEXT    NOT NULL,  -- JSON
    carrier         TEXT,
    tracking_number TEXT    NOT NULL,
    amount_minor    INTEGER NOT NULL CHECK (amount_minor >= 0),
    shipped_at      TEXT    NOT NULL,
    delivered_at    TEXT,
    CONSTRAINT orders_fulfilments_order_position_key UNIQUE (order_id, position)
);

-- A customer's request to send units back.
CREATE TABLE orders_returns (
    id          TEXT    NOT NULL PRIMARY KEY,
    order_id    TEXT    NOT NULL REFERENCES orders_orders (id),
    position    INTEGER NOT NULL CHECK (position >= 1),
    status      TEXT    NOT NULL CHECK (status IN
                    ('requested', 'approved', 'rejected', 'received', 'refunded')),
    lines       TEXT    NOT NULL,  -- JSON
    reason      TEXT    NOT NULL,
    note        TEXT,
    restocked   INTEGER NOT NULL CHECK (restocked IN (0, 1)),
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
    position     INTEGER NOT NULL CHECK (position >= 1),
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded')),
    lines        TEXT    NOT NULL,  -- JSON
    shipping     INTEGER NOT NULL CHECK (shipping IN (0, 1)),
    amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
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
    position            INTEGER NOT NULL CHECK (position >= 1),
    text                TEXT    NOT NULL,
    visible_to_customer INTEGER NOT NULL CHECK (visible_to_customer IN (0, 1)),
    author              TEXT    NOT NULL,
    created_at          TEXT    NOT NULL,
    CONSTRAINT orders_notes_order_position_key UNIQUE (order_id, position)
);
