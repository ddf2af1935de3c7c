-- Rooms, their members' delivery cursors, and their messages (docs/rooms-storage.md).
-- Sequence numbers are BIGINT counts from 1; room names are the keys members and clients
-- use, so they are the rooms' keys too (names never change).

-- `last_seq` is the room's counter: a publish increments it and stores the message under
-- the new value in one transaction, so it is the highest seq ever assigned (messages
-- pruned by retention do not lower it) and 0 for a room with no message yet.
CREATE TABLE rooms (
    name TEXT PRIMARY KEY NOT NULL,
    last_seq BIGINT NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    created_at TIMESTAMP NOT NULL
);

-- One row per member; `cursor_seq` is what counts as delivered to them (acknowledged, or
-- the room's last_seq when they joined). It only moves forward, up to the room's last_seq.
CREATE TABLE room_members (
    room TEXT NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    cursor_seq BIGINT NOT NULL CHECK (cursor_seq >= 0),
    joined_at TIMESTAMP NOT NULL,
    CONSTRAINT room_members_pk PRIMARY KEY (room, user_id)
);
-- "The rooms of this user", read on every new connection and by GET /rooms.
CREATE INDEX room_members_user_id ON room_members (user_id);

-- `message_id` is the sender's idempotency key (the client's id, or a UUID the server
-- assigned); it is unique per sender, across rooms, so a retried publish can never be
-- stored twice, whatever instance or connection it comes back through.
CREATE TABLE messages (
    room TEXT NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    seq BIGINT NOT NULL CHECK (seq >= 1),
    message_id TEXT NOT NULL,
    sender_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    CONSTRAINT messages_pk PRIMARY KEY (room, seq),
    CONSTRAINT messages_sender_message_id_unique UNIQUE (sender_id, message_id)
);
