-- One row that the readiness probe rewrites: a probe that only reads would stay green
-- while every write fails (a full disk, an immutable write-ahead log).
CREATE TABLE readiness_probe (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    checked_at TIMESTAMP NOT NULL
);
