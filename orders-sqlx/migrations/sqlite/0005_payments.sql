-- Payments a real shop can run (issue 17): an order can wait for its
-- payment (`awaiting_payment`, holding its stock), the payment has the
-- eight statuses of API.md, the amounts authorised, captured and refunded
-- (integer minor units in the order's currency) and what the customer
-- must still do (`payment_next_action`, JSON, while `requires_action`).
-- Events say what they record (`kind`) and carry what changed besides the
-- status (`data`, JSON); a provider's webhook events are remembered once
-- acted on (`orders_payment_events`).
--
-- SQLite cannot alter a CHECK, so `orders_orders` is rebuilt (the
-- documented "make other kinds of table schema changes" procedure), inside
-- the migration's transaction. Its children (`orders_order_lines`,
-- `orders_order_events`, `orders_idempotency_keys`) reference
-- `orders_orders (id)`; `PRAGMA foreign_keys` cannot change inside a
-- transaction, so the foreign keys are deferred to the commit instead.
-- The old rows are copied aside first and the new table filled after the
-- old one is dropped: SQLite counts the children the DROP orphans and
-- counts them back as their parents are inserted into the new table, so
-- the commit checks that every child found its parent again (renaming a
-- copy over the old name would leave the count up and fail the commit).
PRAGMA defer_foreign_keys = ON;

CREATE TABLE orders_orders_payments_copy AS SELECT * FROM orders_orders;

DROP TABLE orders_orders;

CREATE TABLE orders_orders (
    number            INTEGER PRIMARY KEY,  -- 1, 2, 3, ...: the next is max + 1 under the write lock
    id                TEXT    NOT NULL,
    customer_id       TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN
                          ('pending', 'awaiting_payment', 'paid', 'processing', 'shipped', 'delivered',
                           'cancelled', 'refunded')),
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

-- Before payments had amounts, a captured order had taken its total, and a
-- refunded one had taken it and given it all back.
INSERT INTO orders_orders (number, id, customer_id, status, currency, email, email_lower, subtotal_minor,
    discount_minor, shipping_minor, tax_minor, total_minor, discount_code, shipping_address, shipping_method,
    payment_method, card_brand, card_last4, payment_status, payment_reference, tracking_number, created_at,
    updated_at, version, payment_authorized_minor, payment_captured_minor, payment_refunded_minor,
    payment_next_action)
SELECT number, id, customer_id, status, currency, email, email_lower, subtotal_minor,
    discount_minor, shipping_minor, tax_minor, total_minor, discount_code, shipping_address, shipping_method,
    payment_method, card_brand, card_last4, payment_status, payment_reference, tracking_number, created_at,
    updated_at, version,
    CASE WHEN payment_status IN ('captured', 'refunded') THEN total_minor ELSE 0 END,
    CASE WHEN payment_status IN ('captured', 'refunded') THEN total_minor ELSE 0 END,
    CASE WHEN payment_status = 'refunded' THEN total_minor ELSE 0 END,
    NULL
FROM orders_orders_payments_copy;

DROP TABLE orders_orders_payments_copy;

CREATE INDEX orders_orders_customer_number ON orders_orders (customer_id, number DESC);
-- Also serves the sweeper's `status = 'awaiting_payment' … ORDER BY number`.
CREATE INDEX orders_orders_status_number ON orders_orders (status, number DESC);
CREATE INDEX orders_orders_email_number ON orders_orders (email_lower, number DESC);
-- A provider's webhook names the payment by its reference.
CREATE INDEX orders_orders_payment_reference ON orders_orders (payment_reference)
    WHERE payment_reference IS NOT NULL;

-- No CHECK on `kind`: the codec refuses a kind it does not know, and a
-- later kind is then added without rebuilding the event log.
ALTER TABLE orders_order_events ADD COLUMN kind TEXT NOT NULL DEFAULT 'status_changed';
ALTER TABLE orders_order_events ADD COLUMN data TEXT;  -- JSON

-- A provider's webhook events acted on, so a replay is recognised.
CREATE TABLE orders_payment_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (provider, event_id)
) WITHOUT ROWID;
