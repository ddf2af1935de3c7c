-- Portico on PostgreSQL: the same tables, constraint names and rules as the SQLite
-- migrations up to 2026-12-02 (docs/rooms-storage.md), in one step since no PostgreSQL
-- database predates them, with native types: `uuid` ids, `timestamptz` instants (UTC,
-- to the microsecond; the clock truncates to match), `bigint` sequence numbers.

CREATE TABLE users (
    id uuid PRIMARY KEY,
    email text NOT NULL,
    password_hash text NOT NULL,
    first_name text NOT NULL,
    last_name text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    -- The adapter recognises a taken address by this name, never by message text.
    CONSTRAINT users_email_unique UNIQUE (email)
);

-- Sessions (refresh-token families). A session is live while `revoked_at` is NULL and
-- `expires_at` (its newest token's expiry) lies ahead; `last_used_at` is its last refresh.
CREATE TABLE sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz,
    user_agent text,
    last_used_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
-- "This user's sessions, most recently used first" (GET /sessions).
CREATE INDEX sessions_user_id_last_used_at ON sessions (user_id, last_used_at);

-- Only the SHA-256 digest of a refresh token is stored: a copy of this table lets no one
-- refresh anything.
CREATE TABLE refresh_tokens (
    digest text PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    spent_at timestamptz
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- One row that the readiness probe rewrites: a probe that only reads would stay green
-- while every write fails (a full disk, a read-only replica after a failover).
CREATE TABLE readiness_probe (
    id integer PRIMARY KEY CHECK (id = 1),
    checked_at timestamptz NOT NULL
);

-- `last_seq` is the room's counter: a publish increments it with
-- `UPDATE … RETURNING`, which takes the room row's lock, and stores the message under the
-- new value in the same transaction. Publishers to one room queue on that lock (on any
-- instance), other rooms are not held up, and a rollback undoes the increment: no gap.
CREATE TABLE rooms (
    -- Byte order, as in SQLite: rooms are listed by name the same way on both backends,
    -- whatever collation the database was created with.
    name text COLLATE "C" PRIMARY KEY,
    last_seq bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    created_at timestamptz NOT NULL
);

-- One row per member; `cursor_seq` is what counts as delivered to them. A publish holds
-- the sender's row FOR SHARE, so a concurrent leave waits until the message is stored.
CREATE TABLE room_members (
    room text COLLATE "C" NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    cursor_seq bigint NOT NULL CHECK (cursor_seq >= 0),
    joined_at timestamptz NOT NULL,
    CONSTRAINT room_members_pk PRIMARY KEY (room, user_id)
);
-- "The rooms of this user", read on every new connection and by GET /rooms.
CREATE INDEX room_members_user_id ON room_members (user_id);

-- `message_id` is the sender's idempotency key, unique per sender across rooms.
CREATE TABLE messages (
    room text COLLATE "C" NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    seq bigint NOT NULL CHECK (seq >= 1),
    message_id text NOT NULL,
    sender_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body text NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT messages_pk PRIMARY KEY (room, seq),
    CONSTRAINT messages_sender_message_id_unique UNIQUE (sender_id, message_id)
);
