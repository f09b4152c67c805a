-- The host's own users: each holds an API key, sent as a bearer token.
CREATE TABLE api_keys (
    key      TEXT PRIMARY KEY,
    user_id  TEXT NOT NULL,
    email    TEXT NOT NULL,
    is_staff BOOLEAN NOT NULL DEFAULT false
);
