-- Discounts with a limit per customer and a switch staff use to disable a
-- code (issue 20). `max_uses_per_customer` NULL is unlimited. Uses of a
-- limited code are counted per code and customer key
-- (`orders_core::discount::use_key`: `customer:ID`, or `email:ADDRESS` for
-- a guest, lowercased), in the checkout's own transaction.
ALTER TABLE orders_discounts ADD COLUMN max_uses_per_customer INTEGER CHECK (max_uses_per_customer >= 1);
ALTER TABLE orders_discounts ADD COLUMN active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1));

CREATE TABLE orders_discount_uses (
    code         TEXT    NOT NULL REFERENCES orders_discounts (code),
    customer_key TEXT    NOT NULL,
    uses         INTEGER NOT NULL CHECK (uses >= 1),
    PRIMARY KEY (code, customer_key)
) WITHOUT ROWID;
