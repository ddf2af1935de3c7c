-- Presence across instances (SPEC §8): the open WebSocket connections of every instance,
-- and each instance's heartbeat. A connection counts only while its instance's heartbeat
-- is fresh, so the members of an instance that died without saying goodbye drop out
-- within the heartbeat timeout. SQLite keeps presence in process memory.
CREATE TABLE instances (
    id uuid PRIMARY KEY,
    -- The database's clock, never an instance's: instances' clocks may disagree.
    heartbeat_at timestamptz NOT NULL
);

CREATE TABLE presence_connections (
    connection_id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    instance_id uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    -- Active (true) or idle (false); a user is active while any connection is.
    active boolean NOT NULL
);
-- "Is this user present", asked per member of a room and at every open and close.
CREATE INDEX presence_connections_user_id ON presence_connections (user_id);
CREATE INDEX presence_connections_instance_id ON presence_connections (instance_id);
