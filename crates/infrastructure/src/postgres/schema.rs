//! The tables as diesel sees them on PostgreSQL; must match `migrations/postgres/`.
//! Native types, unlike SQLite's text: ids are `Uuid`, instants `Timestamptz`.

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        password_hash -> Text,
        first_name -> Text,
        last_name -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        user_agent -> Nullable<Text>,
        last_used_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    refresh_tokens (digest) {
        digest -> Text,
        session_id -> Uuid,
        issued_at -> Timestamptz,
        expires_at -> Timestamptz,
        spent_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    rooms (name) {
        name -> Text,
        last_seq -> BigInt,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    room_members (room, user_id) {
        room -> Text,
        user_id -> Uuid,
        cursor_seq -> BigInt,
        joined_at -> Timestamptz,
    }
}

diesel::table! {
    messages (room, seq) {
        room -> Text,
        seq -> BigInt,
        message_id -> Text,
        sender_id -> Uuid,
        body -> Text,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(room_members -> rooms (room));
diesel::joinable!(room_members -> users (user_id));
diesel::joinable!(messages -> rooms (room));
diesel::joinable!(messages -> users (sender_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    sessions,
    refresh_tokens,
    rooms,
    room_members,
    messages
);

diesel::table! {
    login_attempts (email, device) {
        email -> Text,
        device -> Uuid,
        failures -> Integer,
        last_at -> Timestamptz,
    }
}

diesel::table! {
    instances (id) {
        id -> Uuid,
        heartbeat_at -> Timestamptz,
    }
}

diesel::table! {
    presence_connections (connection_id) {
        connection_id -> Uuid,
        user_id -> Uuid,
        instance_id -> Uuid,
        active -> Bool,
    }
}

diesel::joinable!(presence_connections -> instances (instance_id));
diesel::allow_tables_to_appear_in_same_query!(presence_connections, instances);
