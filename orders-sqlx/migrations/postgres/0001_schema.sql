-- The orders schema on PostgreSQL.
--
-- Money is BIGINT minor units (cents) beside its currency code, never a
-- float. Instants are RFC 3339 text in UTC with nine fractional digits and
-- a `Z`: fixed width, so text order is time order, and nanoseconds
-- round-trip exactly (timestamptz keeps microseconds only); cast with
-- `created_at::timestamptz` to work with them in SQL.
-- `seq` columns give lists their "newest first" order; cursors are seq values.

CREATE TABLE products (
    seq          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           TEXT    NOT NULL,
    sku          TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    description  TEXT    NOT NULL,
    price_minor  BIGINT  NOT NULL CHECK (price_minor >= 0),
    currency     TEXT    NOT NULL CHECK (length(currency) = 3),
    stock        BIGINT  NOT NULL CHECK (stock >= 0 AND stock <= 4294967295),
    active       BOOLEAN NOT NULL,
    tax_class    TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    CONSTRAINT products_id_key UNIQUE (id),
    CONSTRAINT products_sku_key UNIQUE (sku)
);
CREATE INDEX products_active_seq ON products (active, seq);

CREATE TABLE discounts (
    seq                 BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code                TEXT    NOT NULL,
    kind                TEXT    NOT NULL CHECK (kind IN ('percent', 'fixed')),
    percent             TEXT,
    amount_minor        BIGINT  CHECK (amount_minor > 0),
    amount_currency     TEXT,
    min_subtotal_minor  BIGINT  CHECK (min_subtotal_minor >= 0),
    min_subtotal_currency TEXT,
    max_uses            BIGINT  CHECK (max_uses >= 0),
    uses                BIGINT  NOT NULL DEFAULT 0 CHECK (uses >= 0),
    expires_at          TEXT,
    created_at          TEXT    NOT NULL,
    CONSTRAINT discounts_code_key UNIQUE (code),
    CONSTRAINT discounts_uses_within_max CHECK (max_uses IS NULL OR uses <= max_uses),
    CONSTRAINT discounts_kind_value CHECK (
        (kind = 'percent' AND percent IS NOT NULL AND amount_minor IS NULL)
        OR (kind = 'fixed' AND percent IS NULL AND amount_minor IS NOT NULL AND amount_currency IS NOT NULL))
);

CREATE TABLE carts (
    id            TEXT    PRIMARY KEY,
    customer_id   TEXT    NOT NULL,
    currency      TEXT    NOT NULL,
    lines         TEXT    NOT NULL,  -- JSON array of {product_id, quantity}
    discount_code TEXT,
    status        TEXT    NOT NULL CHECK (status IN ('open', 'checked_out')),
    version       BIGINT  NOT NULL CHECK (version >= 1),
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);
CREATE INDEX carts_customer ON carts (customer_id);

-- Numbers come from the identity sequence, taken as the last step of a
-- checkout, once nothing but a database fault can fail it: they rise in
-- placement order, with a gap only where such a fault rolled one back.
CREATE TABLE orders (
    number            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                TEXT    NOT NULL,
    customer_id       TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN
                          ('pending', 'paid', 'processing', 'shipped', 'delivered', 'cancelled', 'refunded')),
    currency          TEXT    NOT NULL,
    email             TEXT    NOT NULL,
    email_lower       TEXT    NOT NULL,
    subtotal_minor    BIGINT  NOT NULL,
    discount_minor    BIGINT  NOT NULL,
    shipping_minor    BIGINT  NOT NULL,
    tax_minor         BIGINT  NOT NULL,
    total_minor       BIGINT  NOT NULL CHECK (total_minor >= 0),
    discount_code     TEXT    REFERENCES discounts (code),
    shipping_address  TEXT    NOT NULL,  -- JSON
    shipping_method   TEXT    NOT NULL,
    payment_method    TEXT    NOT NULL,
    card_brand        TEXT,
    card_last4        TEXT,
    payment_status    TEXT    NOT NULL CHECK (payment_status IN ('pending', 'captured', 'refunded')),
    payment_reference TEXT,
    tracking_number   TEXT,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL,
    version           BIGINT  NOT NULL CHECK (version >= 1),
    CONSTRAINT orders_id_key UNIQUE (id)
);
CREATE INDEX orders_customer_number ON orders (customer_id, number DESC);
CREATE INDEX orders_status_number ON orders (status, number DESC);
CREATE INDEX orders_email_number ON orders (email_lower, number DESC);

CREATE TABLE order_lines (
    order_id            TEXT    NOT NULL REFERENCES orders (id),
    position            BIGINT  NOT NULL CHECK (position >= 0),
    product_id          TEXT    NOT NULL REFERENCES products (id),
    sku                 TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    quantity            BIGINT  NOT NULL CHECK (quantity BETWEEN 1 AND 999),
    unit_price_minor    BIGINT  NOT NULL,
    subtotal_minor      BIGINT  NOT NULL,
    discount_minor      BIGINT  NOT NULL,
    tax_minor           BIGINT  NOT NULL,
    total_minor         BIGINT  NOT NULL,
    tax_class           TEXT    NOT NULL,
    PRIMARY KEY (order_id, position)
);
CREATE INDEX order_lines_product ON order_lines (product_id);

-- Ids come from the identity sequence: they only rise, but a transaction
-- that took a smaller id may commit after one that took a larger id.
-- `txid` (the writing transaction's id) lets the notifier's listener find,
-- after a lost connection, every event committed since a snapshot it took,
-- whatever its id.
CREATE TABLE order_events (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    TEXT    NOT NULL REFERENCES orders (id),
    from_status TEXT,
    to_status   TEXT    NOT NULL,
    at          TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    note        TEXT,
    txid        BIGINT  NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)
);
CREATE INDEX order_events_order ON order_events (order_id, id);
CREATE INDEX order_events_txid ON order_events (txid);

CREATE TABLE idempotency_keys (
    customer_id TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    order_id    TEXT REFERENCES orders (id),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (customer_id, key)
);
