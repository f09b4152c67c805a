-- Every object of the store is named `orders_…` (tables, their
-- constraints and indexes, the identity sequences; the function
-- `orders_place` already was), so a host's own `products`, `orders` or
-- `carts` can live in the same schema, and their implicit names
-- (`products_pkey`, `products_sku_key`, `orders_id_seq`) clash with none of
-- ours (see the `migrations` module for why a prefix). Renaming keeps the
-- data, the identity counters and the foreign keys; renaming a primary or
-- unique key renames its index.

ALTER TABLE products RENAME TO orders_products;
ALTER TABLE discounts RENAME TO orders_discounts;
ALTER TABLE carts RENAME TO orders_carts;
ALTER TABLE orders RENAME TO orders_orders;
ALTER TABLE order_lines RENAME TO orders_order_lines;
ALTER TABLE order_events RENAME TO orders_order_events;
ALTER TABLE idempotency_keys RENAME TO orders_idempotency_keys;

ALTER SEQUENCE products_seq_seq RENAME TO orders_products_seq_seq;
ALTER SEQUENCE discounts_seq_seq RENAME TO orders_discounts_seq_seq;
ALTER SEQUENCE orders_number_seq RENAME TO orders_orders_number_seq;
ALTER SEQUENCE order_events_id_seq RENAME TO orders_order_events_id_seq;

ALTER TABLE orders_products RENAME CONSTRAINT products_currency_check TO orders_products_currency_check;
ALTER TABLE orders_products RENAME CONSTRAINT products_id_key TO orders_products_id_key;
ALTER TABLE orders_products RENAME CONSTRAINT products_pkey TO orders_products_pkey;
ALTER TABLE orders_products RENAME CONSTRAINT products_price_minor_check TO orders_products_price_minor_check;
ALTER TABLE orders_products RENAME CONSTRAINT products_sku_key TO orders_products_sku_key;
ALTER TABLE orders_products RENAME CONSTRAINT products_stock_check TO orders_products_stock_check;
ALTER TABLE orders_products RENAME CONSTRAINT products_version_check TO orders_products_version_check;
ALTER TABLE orders_discounts RENAME CONSTRAINT discounts_amount_minor_check TO orders_discounts_amount_minor_check;
ALTER TABLE orders_discounts RENAME CONSTRAINT discounts_code_key TO orders_discounts_code_key;
ALTER TABLE orders_discounts RENAME CONSTRAINT discounts_kind_check TO orders_discounts_kind_check;
ALTER TABLE orders_discounts RENAME CONSTRAINT discounts_kind_value TO orders_discounts_kind_value;
ALTER TABLE orders_discounts RENAME CONSTRAINT discounts_max_uses_check TO orders_discounts_max_uses_check;
ALTER TABLE orders_discounts RENAME CONSTRAINT discounts_min_subtotal_minor_check TO orders_discounts_min_subtotal_minor_check;
ALTER TABLE orders_discounts RENAME CONSTRAINT discounts_pkey TO orders_discounts_pkey;
ALTER TABLE orders_discounts RENAME CONSTRAINT discounts_uses_check TO orders_discounts_uses_check;
ALTER TABLE orders_discounts RENAME CONSTRAINT discounts_uses_within_max TO orders_discounts_uses_within_max;
ALTER TABLE orders_carts RENAME CONSTRAINT carts_pkey TO orders_carts_pkey;
ALTER TABLE orders_carts RENAME CONSTRAINT carts_status_check TO orders_carts_status_check;
ALTER TABLE orders_carts RENAME CONSTRAINT carts_version_check TO orders_carts_version_check;
ALTER TABLE orders_orders RENAME CONSTRAINT orders_discount_code_fkey TO orders_orders_discount_code_fkey;
ALTER TABLE orders_orders RENAME CONSTRAINT orders_id_key TO orders_orders_id_key;
ALTER TABLE orders_orders RENAME CONSTRAINT orders_payment_status_check TO orders_orders_payment_status_check;
ALTER TABLE orders_orders RENAME CONSTRAINT orders_pkey TO orders_orders_pkey;
ALTER TABLE orders_orders RENAME CONSTRAINT orders_status_check TO orders_orders_status_check;
ALTER TABLE orders_orders RENAME CONSTRAINT orders_total_minor_check TO orders_orders_total_minor_check;
ALTER TABLE orders_orders RENAME CONSTRAINT orders_version_check TO orders_orders_version_check;
ALTER TABLE orders_order_lines RENAME CONSTRAINT order_lines_order_id_fkey TO orders_order_lines_order_id_fkey;
ALTER TABLE orders_order_lines RENAME CONSTRAINT order_lines_pkey TO orders_order_lines_pkey;
ALTER TABLE orders_order_lines RENAME CONSTRAINT order_lines_position_check TO orders_order_lines_position_check;
ALTER TABLE orders_order_lines RENAME CONSTRAINT order_lines_product_id_fkey TO orders_order_lines_product_id_fkey;
ALTER TABLE orders_order_lines RENAME CONSTRAINT order_lines_quantity_check TO orders_order_lines_quantity_check;
ALTER TABLE orders_order_events RENAME CONSTRAINT order_events_order_id_fkey TO orders_order_events_order_id_fkey;
ALTER TABLE orders_order_events RENAME CONSTRAINT order_events_pkey TO orders_order_events_pkey;
ALTER TABLE orders_idempotency_keys RENAME CONSTRAINT idempotency_keys_order_id_fkey TO orders_idempotency_keys_order_id_fkey;
ALTER TABLE orders_idempotency_keys RENAME CONSTRAINT idempotency_keys_pkey TO orders_idempotency_keys_pkey;

ALTER INDEX products_active_seq RENAME TO orders_products_active_seq;
ALTER INDEX carts_customer RENAME TO orders_carts_customer;
ALTER INDEX orders_customer_number RENAME TO orders_orders_customer_number;
ALTER INDEX orders_status_number RENAME TO orders_orders_status_number;
ALTER INDEX orders_email_number RENAME TO orders_orders_email_number;
ALTER INDEX order_lines_product RENAME TO orders_order_lines_product;
ALTER INDEX order_events_order RENAME TO orders_order_events_order;
ALTER INDEX order_events_txid RENAME TO orders_order_events_txid;

-- `orders_place` names the tables anew; its body is otherwise that of
-- 0005 (PL/pgSQL resolves table names when it runs, so the old body would
-- look for the old names).
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
        payment_reference, tracking_number, created_at, updated_at, version)
    VALUES (p_id, p_customer_id, p_status, p_currency, p_email, p_email_lower, p_subtotal,
        p_discount, p_shipping, p_tax, p_total, p_discount_code, p_shipping_address,
        p_shipping_method, p_payment_method, p_card_brand, p_card_last4, p_payment_status,
        p_payment_reference, NULL, p_now, p_now, 1)
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
