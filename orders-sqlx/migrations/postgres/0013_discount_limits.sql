-- Discounts with a limit per customer and a switch staff use to disable a
-- code (issue 20). `max_uses_per_customer` NULL is unlimited. Uses of a
-- limited code are counted per code and customer key
-- (`orders_core::discount::use_key`: `customer:ID`, or `email:ADDRESS` for
-- a guest, lowercased), in the checkout's own transaction.
ALTER TABLE orders_discounts
    ADD COLUMN max_uses_per_customer BIGINT CHECK (max_uses_per_customer >= 1),
    ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;

CREATE TABLE orders_discount_uses (
    code         TEXT   NOT NULL REFERENCES orders_discounts (code),
    customer_key TEXT   NOT NULL,
    uses         BIGINT NOT NULL CHECK (uses >= 1),
    CONSTRAINT orders_discount_uses_pkey PRIMARY KEY (code, customer_key)
);

-- `orders_place` refuses a disabled code, and counts a limited code's use
-- per customer. The signature and the result columns are unchanged; only
-- these parts of the body differ from 0008's:
-- - the discount's locking read also requires `d.active` and reads
--   `max_uses_per_customer` into `v_per_customer`;
-- - when that is set, the customer's uses are read (a new statement, so
--   after the discount's lock: the uses a concurrent checkout of the same
--   code committed are seen) and a customer at the limit is refused with
--   `discounted` NULL (false: the code itself is unavailable);
-- - the writes then add one to the customer's uses (an upsert).
CREATE OR REPLACE FUNCTION orders_place(
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
