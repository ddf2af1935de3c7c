//! The tables as diesel sees them; must match `migrations/`.

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        first_name -> Text,
        last_name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        user_agent -> Nullable<Text>,
        last_used_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    refresh_tokens (digest) {
        digest -> Text,
        session_id -> Text,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        spent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    rooms (name) {
        name -> Text,
        last_seq -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    room_members (room, user_id) {
        room -> Text,
        user_id -> Text,
        cursor_seq -> BigInt,
        joined_at -> Timestamp,
    }
}

diesel::table! {
    messages (room, seq) {
        room -> Text,
        seq -> BigInt,
        message_id -> Text,
        sender_id -> Text,
        body -> Text,
        created_at -> Timestamp,
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
