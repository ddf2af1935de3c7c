DROP INDEX sessions_user_id_last_used_at;
CREATE INDEX sessions_user_id ON sessions (user_id);
ALTER TABLE sessions DROP COLUMN expires_at;
ALTER TABLE sessions DROP COLUMN last_used_at;
ALTER TABLE sessions DROP COLUMN user_agent;
