-- The store's SQLite schema as migrations 1 to 10 leave it, created at once
-- on a database the store has not migrated before (see the `migrations`
-- module): its tables are then never created under the unprefixed names
-- of migration 1, which a host's own tables may already have. A test
-- checks that this and migrations 1 to 10 make the same schema.
--
-- Money is integer minor units (cents) beside its currency code, never REAL.
-- Instants are RFC 3339 text in UTC with nine fractional digits and a `Z`
-- (fixed width, so text order is time order, and nanoseconds round-trip).
-- `seq` columns give lists their "newest first" order; cursors are seq values.

CREATE TABLE orders_products (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL,
    sku          TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    description  TEXT    NOT NULL,
    price_minor  INTEGER NOT NULL CHECK (price_minor >= 0),
    currency     TEXT    NOT NULL CHECK (length(currency) = 3),
    stock        INTEGER NOT NULL CHECK (stock >= 0 AND stock <= 4294967295),
    active       INTEGER NOT NULL CHECK (active IN (0, 1)),
    tax_class    TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    search_text  TEXT,  -- folded by the store: see migration 10
    image        TEXT,
    CONSTRAINT orders_products_id_key UNIQUE (id),
    CONSTRAINT orders_products_sku_key UNIQUE (sku)
);
CREATE INDEX orders_products_active_seq ON orders_products (active, seq);

CREATE TABLE orders_discounts (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    code                TEXT    NOT NULL,
    kind                TEXT    NOT NULL CHECK (kind IN ('percent', 'fixed')),
    percent             TEXT,
    amount_minor        INTEGER CHECK (amount_minor > 0),
    amount_currency     TEXT,
    min_subtotal_minor  INTEGER CHECK (min_subtotal_minor >= 0),
    min_subtotal_currency TEXT,
    max_uses            INTEGER CHECK (max_uses >= 0),
    uses                INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
    expires_at          TEXT,
    created_at          TEXT    NOT NULL,
    max_uses_per_customer INTEGER CHECK (max_uses_per_customer >= 1),
    active              INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    CONSTRAINT orders_discounts_code_key UNIQUE (code),
    CONSTRAINT orders_discounts_uses_within_max CHECK (max_uses IS NULL OR uses <= max_uses),
    CONSTRAINT orders_discounts_kind_value CHECK (
        (kind = 'percent' AND percent IS NOT NULL AND amount_minor IS NULL)
        OR (kind = 'fixed' AND percent IS NULL AND amount_minor IS NOT NULL AND amount_currency IS NOT NULL))
);

CREATE TABLE orders_carts (
    id            TEXT    PRIMARY KEY NOT NULL,
    customer_id   TEXT    NOT NULL,
    currency      TEXT    NOT NULL,
    lines         TEXT    NOT NULL,  -- JSON array of {product_id, quantity}
    discount_code TEXT,
    status        TEXT    NOT NULL CHECK (status IN ('open', 'checked_out')),
    version       INTEGER NOT NULL CHECK (version >= 1),
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    token_hash    TEXT               -- guest carts: SHA-256 of the token, hex
);
CREATE INDEX orders_carts_customer ON orders_carts (customer_id);

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
CREATE INDEX orders_orders_customer_number ON orders_orders (customer_id, number DESC);
CREATE INDEX orders_orders_status_number ON orders_orders (status, number DESC);
CREATE INDEX orders_orders_email_number ON orders_orders (email_lower, number DESC);
-- A provider's webhook names the payment by its reference.
CREATE INDEX orders_orders_payment_reference ON orders_orders (payment_reference)
    WHERE payment_reference IS NOT NULL;

CREATE TABLE orders_order_lines (
    order_id            TEXT    NOT NULL REFERENCES orders_orders (id),
    position            INTEGER NOT NULL CHECK (position >= 0),
    product_id          TEXT    NOT NULL REFERENCES orders_products (id),
    sku                 TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    quantity            INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 999),
    unit_price_minor    INTEGER NOT NULL,
    subtotal_minor      INTEGER NOT NULL,
    discount_minor      INTEGER NOT NULL,
    tax_minor           INTEGER NOT NULL,
    total_minor         INTEGER NOT NULL,
    tax_class           TEXT    NOT NULL,
    PRIMARY KEY (order_id, position)
) WITHOUT ROWID;
CREATE INDEX orders_order_lines_product ON orders_order_lines (product_id);

-- AUTOINCREMENT: ids only ever rise, never reused; with one writer at a
-- time, id order is commit order.
CREATE TABLE orders_order_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id    TEXT    NOT NULL REFERENCES orders_orders (id),
    from_status TEXT,
    to_status   TEXT    NOT NULL,
    at          TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    note        TEXT,
    kind        TEXT    NOT NULL DEFAULT 'status_changed',  -- no CHECK: see migration 5
    data        TEXT    -- JSON
);
CREATE INDEX orders_order_events_order ON orders_order_events (order_id, id);

CREATE TABLE orders_idempotency_keys (
    customer_id TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    order_id    TEXT REFERENCES orders_orders (id),
    CONSTRAINT orders_idempotency_keys_pkey PRIMARY KEY (customer_id, key)
) WITHOUT ROWID;

-- Outbound webhooks: the endpoints, the consumers' cursors over the order
-- events, and one delivery per (webhook, event). Instants are RFC 3339
-- text, which sorts as time (`codec::ts`). A delivery is held by the claim
-- whose `lease_token` it carries until `lease_until`.
CREATE TABLE orders_webhooks (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    url         TEXT    NOT NULL,
    events      TEXT    NOT NULL,
    secret      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    after_event INTEGER
);

CREATE TABLE orders_consumers (
    name     TEXT    NOT NULL PRIMARY KEY,
    position INTEGER NOT NULL CHECK (position >= 0)
) WITHOUT ROWID;

CREATE TABLE orders_deliveries (
    id              TEXT    NOT NULL PRIMARY KEY,
    webhook_id      TEXT    NOT NULL REFERENCES orders_webhooks (id) ON DELETE CASCADE,
    event_id        INTEGER NOT NULL REFERENCES orders_order_events (id),
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
    lease_until     TEXT,
    UNIQUE (webhook_id, event_id)
) WITHOUT ROWID;
CREATE INDEX orders_deliveries_due ON orders_deliveries (event_id) WHERE status = 'pending';
CREATE INDEX orders_deliveries_line ON orders_deliveries (webhook_id, order_id, event_id) WHERE status = 'pending';

-- A provider's webhook events acted on, so a replay is recognised.
CREATE TABLE orders_payment_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (provider, event_id)
) WITHOUT ROWID;

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

-- Uses of codes limited per customer, by code and customer key
-- (`orders_core::discount::use_key`).
CREATE TABLE orders_discount_uses (
    code         TEXT    NOT NULL REFERENCES orders_discounts (code),
    customer_key TEXT    NOT NULL,
    uses         INTEGER NOT NULL CHECK (uses >= 1),
    PRIMARY KEY (code, customer_key)
) WITHOUT ROWID;
