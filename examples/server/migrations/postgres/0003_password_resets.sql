-- Password reset tokens: only the SHA-256 hash of each is kept, with its
-- expiry and when it was used (or made void by a newer token, a password
-- change or an email change). Rows stay until the sweeper removes
-- them a day after they expire, so they also count the requests of the
-- last hour per account. Times in epoch milliseconds.
CREATE TABLE password_resets (
    hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX password_resets_user ON password_resets (user_id, created_at);
CREATE INDEX password_resets_expires_at ON password_resets (expires_at);
