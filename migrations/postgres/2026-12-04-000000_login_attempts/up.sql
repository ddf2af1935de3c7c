-- Failed logins per address and per trusted device of it, shared by every instance, so
-- that N instances do not give a guesser N times the attempts (SPEC §8). SQLite keeps
-- this record in process memory: it serves one instance.
--
-- `device` is the nil UUID for the anonymous clients of an address (those presenting no
-- trusted device token) rather than NULL, so that the primary key treats it as one key
-- on every PostgreSQL version (NULLs are distinct in a key before NULLS NOT DISTINCT).
-- Device ids are random (version 4) UUIDs, never nil.
CREATE TABLE login_attempts (
    email text NOT NULL,
    device uuid NOT NULL,
    failures integer NOT NULL CHECK (failures >= 1),
    last_at timestamptz NOT NULL,
    CONSTRAINT login_attempts_pk PRIMARY KEY (email, device)
);
-- Forgotten entries are swept by age.
CREATE INDEX login_attempts_last_at ON login_attempts (last_at);
