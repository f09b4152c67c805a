-- Payments a real shop can run (issue 17): an order can wait for its
-- payment (`awaiting_payment`, holding its stock), the payment has the
-- eight statuses of API.md, the amounts authorised, captured and refunded
-- (minor units in the order's currency) and what the customer must still
-- do (`payment_next_action`, JSON text, while `requires_action`). Events
-- say what they record (`kind`) and carry what changed besides the status
-- (`data`, JSON text); a provider's webhook events are remembered once
-- acted on (`orders_payment_events`).

ALTER TABLE orders_orders DROP CONSTRAINT orders_orders_status_check;
ALTER TABLE orders_orders ADD CONSTRAINT orders_orders_status_check CHECK (status IN
    ('pending', 'awaiting_payment', 'paid', 'processing', 'shipped', 'delivered', 'cancelled', 'refunded'));
ALTER TABLE orders_orders DROP CONSTRAINT orders_orders_payment_status_check;
ALTER TABLE orders_orders ADD CONSTRAINT orders_orders_payment_status_check CHECK (payment_status IN
    ('pending', 'requires_action', 'authorized', 'captured', 'partially_refunded', 'refunded', 'voided',
     'failed'));

-- Before payments had amounts, a captured order had taken its total, and a
-- refunded one had taken it and given it all back. The defaults only fill
-- the rows there are; every new row names its amounts.
ALTER TABLE orders_orders
    ADD COLUMN payment_authorized_minor BIGINT NOT NULL DEFAULT 0
        CONSTRAINT orders_orders_payment_authorized_minor_check CHECK (payment_authorized_minor >= 0),
    ADD COLUMN payment_captured_minor BIGINT NOT NULL DEFAULT 0
        CONSTRAINT orders_orders_payment_captured_minor_check CHECK (payment_captured_minor >= 0),
    ADD COLUMN payment_refunded_minor BIGINT NOT NULL DEFAULT 0
        CONSTRAINT orders_orders_payment_refunded_minor_check CHECK (payment_refunded_minor >= 0),
    ADD COLUMN payment_next_action TEXT;
UPDATE orders_orders SET payment_authorized_minor = total_minor, payment_captured_minor = total_minor,
    payment_refunded_minor = CASE WHEN payment_status = 'refunded' THEN total_minor ELSE 0 END
WHERE payment_status IN ('captured', 'refunded');
ALTER TABLE orders_orders
    ALTER COLUMN payment_authorized_minor DROP DEFAULT,
    ALTER COLUMN payment_captured_minor DROP DEFAULT,
    ALTER COLUMN payment_refunded_minor DROP DEFAULT;

-- A provider's webhook names the payment by its reference. The sweeper's
-- `status = 'awaiting_payment' ... ORDER BY number` is served by
-- `orders_orders_status_number`.
CREATE INDEX orders_orders_payment_reference ON orders_orders (payment_reference)
    WHERE payment_reference IS NOT NULL;

-- No CHECK on `kind`: the codec refuses a kind it does not know, and a
-- later kind is then added without rewriting the event log's constraint.
ALTER TABLE orders_order_events
    ADD COLUMN kind TEXT NOT NULL DEFAULT 'status_changed',
    ADD COLUMN data TEXT;

-- A provider's webhook events acted on, so a replay is recognised.
CREATE TABLE orders_payment_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    CONSTRAINT orders_payment_events_pkey PRIMARY KEY (provider, event_id)
);

-- `orders_place` writes the payment's amounts and next action too. A
-- function's identity includes its argument types, so the 29-argument
-- version is dropped rather than left beside the new one. The body is
-- otherwise that of 0006.
DROP FUNCTION orders_place(
    text, text, text, text, text, text,
    bigint, bigint, bigint, bigint, bigint,
    text, text, text, text, text, text, text, text, text,
    jsonb,
    text, text, text, text, text, text[], bigint[], text);

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
        PERFORM 1 FROM orders_discounts d
        WHERE d.code = p_count_code AND (d.max_uses IS NULL OR d.uses < d.max_uses)
        FOR UPDATE;
        IF NOT FOUND THEN
            RETURN;
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
