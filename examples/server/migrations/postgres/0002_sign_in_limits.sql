-- Tokens expire: `expires_at` in milliseconds since the Unix epoch, moved
-- forward as the token is used. Tokens issued before this had no end:
-- they get 30 days from now.
ALTER TABLE tokens ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
UPDATE tokens SET expires_at = (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT + 2592000000;
CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX tokens_user_id ON tokens (user_id);

-- Failed sign-ins per (account email, client address); an empty email is
-- the address's count across accounts. Times in epoch milliseconds.
CREATE TABLE login_failures (
    email TEXT NOT NULL,
    address TEXT NOT NULL,
    failures BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (email, address)
);
CREATE INDEX login_failures_updated_at ON login_failures (updated_at);
