-- `orders_place` takes the order's lines as ONE jsonb array of objects,
-- each field by name (`product_id`, `sku`, `name`, `quantity`,
-- `unit_price`, `subtotal`, `discount`, `tax`, `total`, `tax_class`; money
-- in minor units), instead of one parallel array per field: two arrays of
-- one type bound in the wrong order compiled and stored wrong amounts
-- without a sound, where a misnamed field is now a NULL that the NOT NULL
-- columns of `order_lines` refuse. A line's position is its place in the
-- array. The body is otherwise that of 0004: the same locks in the same
-- order, the same refusals and outputs, the same version bump.
--
-- A function's identity includes its argument types, so the 38-argument
-- version is dropped rather than left beside the new one.
DROP FUNCTION orders_place(
    text, text, text, text, text, text,
    bigint, bigint, bigint, bigint, bigint,
    text, text, text, text, text, text, text, text, text,
    text[], text[], text[], bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], text[],
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

    SELECT c.status INTO cart_status FROM carts c WHERE c.id = p_cart_id FOR UPDATE;
    IF cart_status IS DISTINCT FROM 'open' THEN
        RETURN;
    END IF;

    SELECT coalesce(array_agg(w.id) FILTER (WHERE l.stock IS NULL OR l.stock < w.qty), '{}')
    INTO short
    FROM unnest(w_ids, w_quantities) AS w(id, qty)
    LEFT JOIN (
        SELECT p.id, p.stock FROM products p
        WHERE p.id = ANY (w_ids) ORDER BY p.id FOR UPDATE
    ) AS l ON l.id = w.id;
    IF cardinality(short) > 0 THEN
        RETURN;
    END IF;

    IF p_count_code IS NOT NULL THEN
        PERFORM 1 FROM discounts d
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
        INSERT INTO idempotency_keys AS ik (customer_id, key, fingerprint, started_at, order_id)
        VALUES (k_customer_id, k_key, k_fingerprint, p_now, NULL)
        ON CONFLICT (customer_id, key) DO UPDATE
            SET fingerprint = EXCLUDED.fingerprint, started_at = EXCLUDED.started_at
            WHERE ik.order_id IS NULL;
        IF NOT FOUND THEN
            RETURN;
        END IF;
    END IF;

    UPDATE carts SET status = 'checked_out', version = version + 1, updated_at = p_now
    WHERE id = p_cart_id;
    UPDATE products p SET stock = p.stock - w.qty, version = p.version + 1
    FROM unnest(w_ids, w_quantities) AS w(id, qty)
    WHERE p.id = w.id;
    IF p_count_code IS NOT NULL THEN
        UPDATE discounts SET uses = uses + 1 WHERE code = p_count_code;
    END IF;

    INSERT INTO orders (id, customer_id, status, currency, email, email_lower, subtotal_minor,
        discount_minor, shipping_minor, tax_minor, total_minor, discount_code, shipping_address,
        shipping_method, payment_method, card_brand, card_last4, payment_status,
        payment_reference, tracking_number, created_at, updated_at, version)
    VALUES (p_id, p_customer_id, p_status, p_currency, p_email, p_email_lower, p_subtotal,
        p_discount, p_shipping, p_tax, p_total, p_discount_code, p_shipping_address,
        p_shipping_method, p_payment_method, p_card_brand, p_card_last4, p_payment_status,
        p_payment_reference, NULL, p_now, p_now, 1)
    RETURNING orders.number INTO number;

    INSERT INTO order_lines (order_id, position, product_id, sku, name, quantity,
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
        UPDATE idempotency_keys SET order_id = p_id
        WHERE customer_id = k_customer_id AND key = k_key;
    END IF;

    INSERT INTO order_events (order_id, from_status, to_status, at, actor, note)
    VALUES (p_id, NULL, p_status, p_now, p_actor, NULL)
    RETURNING order_events.id INTO event_id;

    placed := true;
END
$$;
