-- Guest carts: the SHA-256 hash (64 lowercase hex characters) of the
-- token that opens a guest's cart; NULL for a customer's cart. The token
-- itself is never stored.
ALTER TABLE orders_carts ADD COLUMN token_hash TEXT;
