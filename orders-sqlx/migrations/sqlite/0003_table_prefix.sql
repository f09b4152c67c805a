-- Every table and index of the store is named `orders_…`, so a host's own
-- `products`, `orders` or `carts` can live in the same file (see the
-- `migrations` module for why a prefix). Data, rowids and AUTOINCREMENT
-- counters carry over: SQLite renames a table's automatic indexes, its
-- `sqlite_sequence` row and the foreign keys that reference it. SQLite has
-- no ALTER INDEX, so the named indexes are dropped and created again under
-- their new names. (The store has no views and no triggers. Constraint
-- names inside a SQLite table are text, not objects, and cannot clash.)
ALTER TABLE products RENAME TO orders_products;
ALTER TABLE discounts RENAME TO orders_discounts;
ALTER TABLE carts RENAME TO orders_carts;
ALTER TABLE orders RENAME TO orders_orders;
ALTER TABLE order_lines RENAME TO orders_order_lines;
ALTER TABLE order_events RENAME TO orders_order_events;
ALTER TABLE idempotency_keys RENAME TO orders_idempotency_keys;

DROP INDEX products_active_seq;
DROP INDEX carts_customer;
DROP INDEX orders_customer_number;
DROP INDEX orders_status_number;
DROP INDEX orders_email_number;
DROP INDEX order_lines_product;
DROP INDEX order_events_order;

CREATE INDEX orders_products_active_seq ON orders_products (active, seq);
CREATE INDEX orders_carts_customer ON orders_carts (customer_id);
CREATE INDEX orders_orders_customer_number ON orders_orders (customer_id, number DESC);
CREATE INDEX orders_orders_status_number ON orders_orders (status, number DESC);
CREATE INDEX orders_orders_email_number ON orders_orders (email_lower, number DESC);
CREATE INDEX orders_order_lines_product ON orders_order_lines (product_id);
CREATE INDEX orders_order_events_order ON orders_order_events (order_id, id);
