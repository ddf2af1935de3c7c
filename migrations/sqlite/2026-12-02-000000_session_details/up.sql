-- What a user sees of their sessions (GET /sessions), and what every access token is
-- checked against: a session is live while `revoked_at` is NULL and `expires_at` lies
-- ahead. Both are read by the sessions' primary key, joined with the user, in the one
-- query that authenticates a request.
--
-- `expires_at` is the expiry of the session's newest refresh token and `last_used_at`
-- the instant of its last refresh; both move at each rotation. SQLite cannot add a
-- NOT NULL column without a default, so the default is a placeholder that the UPDATE
-- below replaces for every existing session; new sessions always write both.
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN last_used_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
ALTER TABLE sessions ADD COLUMN expires_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';

UPDATE sessions SET
    last_used_at = COALESCE(
        (SELECT MAX(issued_at) FROM refresh_tokens WHERE session_id = sessions.id),
        created_at),
    expires_at = COALESCE(
        (SELECT MAX(expires_at) FROM refresh_tokens WHERE session_id = sessions.id),
        created_at);

-- "This user's sessions, most recently used first" (GET /sessions).
DROP INDEX sessions_user_id;
CREATE INDEX sessions_user_id_last_used_at ON sessions (user_id, last_used_at);
