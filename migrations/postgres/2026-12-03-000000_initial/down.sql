DROP TABLE messages;
DROP TABLE room_members;
DROP TABLE rooms;
DROP TABLE readiness_probe;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE users;
