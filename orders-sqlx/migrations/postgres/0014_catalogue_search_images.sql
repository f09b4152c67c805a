-- Catalogue search and product images.
-- `search_text`: name, SKU and description folded for search (Unicode lower
-- case then NFC, `Product::search_text`), written by the store with every
-- insert and edit and compared with `LIKE ... ESCAPE '\'`. lower() here
-- would follow the database's collation, so rows older than this migration
-- are left NULL and filled by the store, in Rust, when it migrates.
-- `image`: the product's picture as `ProductImage::to_stored` writes it
-- (`<key>.<jpg|png> <width>x<height>`), or NULL.
ALTER TABLE orders_products ADD COLUMN search_text TEXT;
ALTER TABLE orders_products ADD COLUMN image TEXT;
