-- Products carry a version that every change bumps: a staff edit, stock
-- taken by a checkout, stock returned by a cancellation. A staff edit says
-- the version it was made from and is refused when the product has moved
-- on, so an edit opened before a sale cannot undo it. Existing products
-- start at version 1.
ALTER TABLE products ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1);
