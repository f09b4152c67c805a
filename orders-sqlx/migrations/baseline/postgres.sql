-- The store's PostgreSQL schema as migrations 1 to 14 leave it, created at
-- once on a database the store has not migrated before (see the
-- `migrations` module): its objects are then never created under the
-- unprefixed names of migration 1, which a host's own tables (and their
-- implicit `products_pkey`, `products_sku_key`) may already have. A test
-- checks that this and migrations 1 to 14 make the same schema.
--
-- Money is BIGINT minor units (cents) beside its currency code, never a
-- float. Instants are RFC 3339 text in UTC with nine fractional digits and
-- a `Z`: fixed width, so text order is time order, and nanoseconds
-- round-trip exactly (timestamptz keeps microseconds only); cast with
-- `created_at::timestamptz` to work with them in SQL.
-- `seq` columns give lists their "newest first" order; cursors are seq values.

CREATE TABLE orders_products (
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
    version      BIGINT  NOT NULL DEFAULT 1 CHECK (version >= 1),
    search_text  TEXT,  -- folded by the store: see migration 14
    image        TEXT,
    CONSTRAINT orders_products_id_key UNIQUE (id),
    CONSTRAINT orders_products_sku_key UNIQUE (sku)
);
CREATE INDEX orders_products_active_seq ON orders_products (active, seq);

CREATE TABLE orders_discounts (
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
    max_uses_per_customer BIGINT CHECK (max_uses_per_customer >= 1),
    active              BOOLEAN NOT NULL DEFAULT TRUE,
    CONSTRAINT orders_discounts_code_key UNIQUE (code),
    CONSTRAINT orders_discounts_uses_within_max CHECK (max_uses IS NULL OR uses <= max_uses),
    CONSTRAINT orders_discounts_kind_value CHECK (
        (kind = 'percent' AND percent IS NOT NULL AND amount_minor IS NULL)
        OR (kind = 'fixed' AND percent IS NULL AND amount_minor IS NOT NULL AND amount_currency IS NOT NULL))
);

-- Uses of codes limited per customer, by code and customer key
-- (`orders_core::discount::use_key`).
CREATE TABLE orders_discount_uses (
    code         TEXT   NOT NULL REFERENCES orders_discounts (code),
    customer_key TEXT   NOT NULL,
    uses         BIGINT NOT NULL CHECK (uses >= 1),
    CONSTRAINT orders_discount_uses_pkey PRIMARY KEY (code, customer_key)
);

CREATE TABLE orders_carts (
    id            TEXT    PRIMARY KEY,
    customer_id   TEXT    NOT NULL,
    currency      TEXT    NOT NULL,
    lines         TEXT    NOT NULL,  -- JSON array of {product_id, quantity}
    discount_code TEXT,
    status        TEXT    NOT NULL CHECK (status IN ('open', 'checked_out')),
    version       BIGINT  NOT NULL CHECK (version >= 1),
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    token_hash    TEXT               -- guest carts: SHA-256 of the token, hex
);
CREATE INDEX orders_carts_customer ON orders_carts (customer_id);

-- Numbers come from the identity sequence, taken as the last step of a
-- checkout, once nothing but a database fault can fail it: they rise in
-- placement order, with a gap only where such a fault rolled one back.
CREATE TABLE orders_orders (
    number            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                TEXT    NOT NULL,
    customer_id       TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN
                          ('pending', 'awaiting_payment', 'paid', 'processing', 'partially_shipped',
                           'shipped', 'delivered', 'cancelled', 'refunded')),
    currency          TEXT    NOT NULL,
    email             TEXT    NOT NULL,
    email_lower       TEXT    NOT NULL,
    subtotal_minor    BIGINT  NOT NULL,
    discount_minor    BIGINT  NOT NULL,
    shipping_minor    BIGINT  NOT NULL,
    tax_minor         BIGINT  NOT NULL,
    total_minor       BIGINT  NOT NULL CHECK (total_minor >= 0),
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
    version           BIGINT  NOT NULL CHECK (version >= 1),
    payment_authorized_minor BIGINT NOT NULL CHECK (payment_authorized_minor >= 0),
    payment_captured_minor   BIGINT NOT NULL CHECK (payment_captured_minor >= 0),
    payment_refunded_minor   BIGINT NOT NULL CHECK (payment_refunded_minor >= 0),
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
    position            BIGINT  NOT NULL CHECK (position >= 0),
    product_id          TEXT    NOT NULL REFERENCES orders_products (id),
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
CREATE INDEX orders_order_lines_product ON orders_order_lines (product_id);

-- Ids come from the identity sequence: they only rise, but a transaction
-- that took a smaller id may commit after one that took a larger id.
-- `txid` (the writing transaction's id) lets the notifier's listener find,
-- after a lost connection, every event committed since a snapshot it took,
-- whatever its id.
CREATE TABLE orders_order_events (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    TEXT    NOT NULL REFERENCES orders_orders (id),
    from_status TEXT,
    to_status   TEXT    NOT NULL,
    at          TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    note        TEXT,
    txid        BIGINT  NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    kind        TEXT    NOT NULL DEFAULT 'status_changed',  -- no CHECK: see migration 8
    data        TEXT    -- JSON
);
CREATE INDEX orders_order_events_order ON orders_order_events (order_id, id);
-- The fan-out's order (migration 11).
CREATE INDEX orders_order_events_fan_out ON orders_order_events (txid, id);

CREATE TABLE orders_idempotency_keys (
    customer_id TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    order_id    TEXT REFERENCES orders_orders (id),
    CONSTRAINT orders_idempotency_keys_pkey PRIMARY KEY (customer_id, key)
);

-- A checkout's placement as one function call: one round trip and one
-- transaction, in steps. Under READ COMMITTED each statement of a
-- (volatile) function takes a fresh snapshot: the rows a checkout writes
-- are locked first, each by a small statement, so the writes that follow
-- see them locked and none needs an EvalPlanQual re-check. The lines come
-- as ONE jsonb array of objects, each field by name (money in minor
-- units); a line's position is its place in the array.
--
-- Locks are taken in one order everywhere: the cart, then the products in
-- id order, then the discount, then the idempotency key.
--
-- Nothing is written unless the placement goes ahead; a refusal returns
-- `placed = false` with what refused it:
--   cart_status  NULL (no such cart) or not 'open';
--   short        the products missing or with too little stock;
--   discounted   false when a discount to count is used up, disabled or
--                unknown; NULL when the order's customer (a guest: its
--                email) used it `max_uses_per_customer` times;
--   otherwise    the idempotency key was completed by another checkout.
CREATE FUNCTION orders_place(
    p_id text, p_customer_id text, p_status text, p_currency text,
    p_email text, p_email_lower text,
    p_subtotal bigint, p_discount bigint, p_shipping bigint, p_tax bigint, p_total bigint,
    p_discount_code text, p_shipping_address text, p_shipping_method text,
    p_payment_method text, p_card_brand text, p_card_last4 text,
    p_payment_status text, p_payment_reference text, p_now text,
    l_lines jsonb,
    p_actor text, k_customer_id text, k_key text, k_fingerprint text,
    p_cart_id text, w_ids text[], w_quantities bigint[], p_count_code text,
    p_payment_authorized bigint, p_payment_captured bigint, p_payment_refunded bigint,
    p_payment_next_action text,
    OUT cart_status text, OUT short text[], OUT discounted boolean, OUT placed boolean,
    OUT number bigint, OUT event_id bigint)
LANGUAGE plpgsql VOLATILE
-- Plans made once per connection, not for every call: with custom plans
-- (the default for the first calls, and kept for statements whose generic
-- plan looks dearer, as array parameters make it look) the planner was a
-- tenth of the database's time under a checkout load.
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    v_per_customer bigint;
    v_use_key text;
BEGIN
    short := '{}';
    discounted := false;
    placed := false;

    SELECT c.status INTO cart_status FROM orders_carts c WHERE c.id = p_cart_id FOR UPDATE;
    IF cart_status IS DISTINCT FROM 'open' THEN
        RETURN;
    END IF;

    SELECT coalesce(array_agg(w.id) FILTER (WHERE l.stock IS NULL OR l.stock < w.qty), '{}')
    INTO short
    FROM unnest(w_ids, w_quantities) AS w(id, qty)
    LEFT JOIN (
        SELECT p.id, p.stock FROM orders_products p
        WHERE p.id = ANY (w_ids) ORDER BY p.id FOR UPDATE
    ) AS l ON l.id = w.id;
    IF cardinality(short) > 0 THEN
        RETURN;
    END IF;

    IF p_count_code IS NOT NULL THEN
        SELECT d.max_uses_per_customer INTO v_per_customer FROM orders_discounts d
        WHERE d.code = p_count_code AND d.active AND (d.max_uses IS NULL OR d.uses < d.max_uses)
        FOR UPDATE;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        IF v_per_customer IS NOT NULL THEN
            v_use_key := CASE WHEN p_customer_id LIKE 'guest:%' THEN 'email:' || p_email_lower
                              ELSE 'customer:' || p_customer_id END;
            PERFORM 1 FROM orders_discount_uses u
            WHERE u.code = p_count_code AND u.customer_key = v_use_key AND u.uses >= v_per_customer;
            IF FOUND THEN
                discounted := NULL;
                RETURN;
            END IF;
        END IF;
        discounted := true;
    END IF;

    -- The key: this checkout's own claim, taken over if it went stale, or
    -- refused if another checkout completed it. Its order is set below,
    -- once the order exists (the foreign key is checked per statement).
    IF k_key IS NOT NULL THEN
        INSERT INTO orders_idempotency_keys AS ik (customer_id, key, fingerprint, started_at, order_id)
        VALUES (k_customer_id, k_key, k_fingerprint, p_now, NULL)
        ON CONFLICT (customer_id, key) DO UPDATE
            SET fingerprint = EXCLUDED.fingerprint, started_at = EXCLUDED.started_at
            WHERE ik.order_id IS NULL;
        IF NOT FOUND THEN
            RETURN;
        END IF;
    END IF;

    UPDATE orders_carts SET status = 'checked_out', version = version + 1, updated_at = p_now
    WHERE id = p_cart_id;
    UPDATE orders_products p SET stock = p.stock - w.qty, version = p.version + 1
    FROM unnest(w_ids, w_quantities) AS w(id, qty)
    WHERE p.id = w.id;
    IF p_count_code IS NOT NULL THEN
        UPDATE orders_discounts SET uses = uses + 1 WHERE code = p_count_code;
        IF v_use_key IS NOT NULL THEN
            INSERT INTO orders_discount_uses AS u (code, customer_key, uses)
            VALUES (p_count_code, v_use_key, 1)
            ON CONFLICT (code, customer_key) DO UPDATE SET uses = u.uses + 1;
        END IF;
    END IF;

    INSERT INTO orders_orders (id, customer_id, status, currency, email, email_lower, subtotal_minor,
        discount_minor, shipping_minor, tax_minor, total_minor, discount_code, shipping_address,
        shipping_method, payment_method, card_brand, card_last4, payment_status,
        payment_reference, tracking_number, created_at, updated_at, version,
        payment_authorized_minor, payment_captured_minor, payment_refunded_minor,
        payment_next_action)
    VALUES (p_id, p_customer_id, p_status, p_currency, p_email, p_email_lower, p_subtotal,
        p_discount, p_shipping, p_tax, p_total, p_discount_code, p_shipping_address,
        p_shipping_method, p_payment_method, p_card_brand, p_card_last4, p_payment_status,
        p_payment_reference, NULL, p_now, p_now, 1,
        p_payment_authorized, p_payment_captured, p_payment_refunded, p_payment_next_action)
    RETURNING orders_orders.number INTO number;

    INSERT INTO orders_order_lines (order_id, position, product_id, sku, name, quantity,
        unit_price_minor, subtotal_minor, discount_minor, tax_minor, total_minor, tax_class)
    SELECT p_id, t.position - 1, t.product_id, t.sku, t.name, t.quantity, t.unit_price,
        t.subtotal, t.discount, t.tax, t.total, t.tax_class
    FROM ROWS FROM (jsonb_to_recordset(l_lines)
            AS (product_id text, sku text, name text, quantity bigint, unit_price bigint,
                subtotal bigint, discount bigint, tax bigint, total bigint, tax_class text))
        WITH ORDINALITY
        AS t(product_id, sku, name, quantity, unit_price, subtotal, discount, tax, total,
             tax_class, position);

    IF k_key IS NOT NULL THEN
        UPDATE orders_idempotency_keys SET order_id = p_id
        WHERE customer_id = k_customer_id AND key = k_key;
    END IF;

    INSERT INTO orders_order_events (order_id, from_status, to_status, at, actor, note)
    VALUES (p_id, NULL, p_status, p_now, p_actor, NULL)
    RETURNING orders_order_events.id INTO event_id;

    placed := true;
END
$$;

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

-- A consumer's cursor: the last event passed (`position`) and its writing
-- transaction (`position_txid`); events are passed in (txid, id) order,
-- only those of transactions older than every one still running
-- (migration 11).
CREATE TABLE orders_consumers (
    name          TEXT    NOT NULL PRIMARY KEY,
    position      BIGINT  NOT NULL CHECK (position >= 0),
    position_txid BIGINT  NOT NULL DEFAULT 0
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

-- A provider's webhook events acted on, so a replay is recognised.
CREATE TABLE orders_payment_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    CONSTRAINT orders_payment_events_pkey PRIMARY KEY (provider, event_id)
);

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

-- Customer emails: at most one per order event, recorded by the
-- `mailer` consumer (its cursor is a row of orders_consumers) and sent
-- with the webhooks' backoff. Instants are RFC 3339 text. A mail is held by
-- the claim whose `lease_token` it carries until `lease_until`.
CREATE TABLE orders_mails (
    id              TEXT    NOT NULL PRIMARY KEY,
    kind            TEXT    NOT NULL CHECK (kind IN ('placed', 'payment_needs_action', 'shipped', 'delivered', 'cancelled', 'refunded')),
    event_id        BIGINT NOT NULL UNIQUE REFERENCES orders_order_events (id),
    order_id        TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        BIGINT NOT NULL CHECK (attempts >= 0),
    failures        BIGINT NOT NULL CHECK (failures >= 0),
    next_attempt_at TEXT    NOT NULL,
    since           TEXT    NOT NULL,
    last_error      TEXT,
    created_at      TEXT    NOT NULL,
    delivered_at    TEXT,
    lease_token     TEXT,
    lease_until     TEXT
);
CREATE INDEX orders_mails_due ON orders_mails (event_id) WHERE status = 'pending';
CREATE INDEX orders_mails_order ON orders_mails (order_id, event_id);
