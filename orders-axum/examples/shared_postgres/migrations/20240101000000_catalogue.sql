-- The host's own catalogue: a `products` table with a UNIQUE sku, as a
-- shop has before it adds orders. The store's tables are `orders_…`, so
-- neither this table nor its `products_pkey` and `products_sku_key` meet
-- one of them.
CREATE TABLE products (
    id    BIGSERIAL PRIMARY KEY,
    sku   TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL
);
