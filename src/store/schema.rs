//! The tables, shared by SQLite and PostgreSQL. Ids are TEXT (UUIDs), times are
//! BIGINT microseconds since the Unix epoch, UTC.

diesel::table! {
    orgs (id) {
        id -> Text,
        name -> Text,
        verified_domains -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    org_admins (org_id, account_id) {
        org_id -> Text,
        account_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    sites (id) {
        id -> Text,
        org_id -> Text,
        name -> Text,
        url -> Text,
        in_rollout -> Bool,
        opted_out -> Bool,
        created_at -> BigInt,
        pending_ttl_hours -> Nullable<Integer>,
    }
}

diesel::table! {
    products (site_id, product_key) {
        site_id -> Text,
        product_key -> Text,
        name -> Text,
        default_group -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        max_duration_hours -> Nullable<Integer>,
        seat_limit -> Nullable<BigInt>,
    }
}

diesel::table! {
    site_users (site_id, account_id) {
        site_id -> Text,
        account_id -> Text,
        email -> Text,
        display_name -> Nullable<Text>,
        role -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        email_verified -> Bool,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        site_id -> Text,
        product_key -> Text,
        account_id -> Text,
        status -> Text,
        source -> Text,
        request_id -> Nullable<Text>,
        group_name -> Text,
        granted_at -> BigInt,
        granted_by -> Nullable<Text>,
        expires_at -> Nullable<BigInt>,
        ended_at -> Nullable<BigInt>,
        ended_by -> Nullable<Text>,
        end_reason -> Nullable<Text>,
        warned_at -> Nullable<BigInt>,
        version -> BigInt,
    }
}

diesel::table! {
    requester_locks (account_id) {
        account_id -> Text,
        touched_at -> BigInt,
    }
}

diesel::table! {
    request_blocks (site_id, account_id) {
        site_id -> Text,
        account_id -> Text,
        email -> Text,
        request_id -> Nullable<Text>,
        blocked_by -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    access_requests (id) {
        id -> Text,
        site_id -> Text,
        product_key -> Text,
        kind -> Text,
        status -> Text,
        requester_account_id -> Text,
        requester_email -> Text,
        requester_display_name -> Nullable<Text>,
        requester_on_site -> Bool,
        subject_account_id -> Text,
        subject_email -> Nullable<Text>,
        subject_display_name -> Nullable<Text>,
        subject_on_site -> Bool,
        reason -> Nullable<Text>,
        created_at -> BigInt,
        decided_at -> Nullable<BigInt>,
        decided_by -> Nullable<Text>,
        decision_message -> Nullable<Text>,
        version -> BigInt,
        duration_hours -> Nullable<Integer>,
        expires_at -> Nullable<BigInt>,
        grant_id -> Nullable<Text>,
        subject_email_verified -> Bool,
    }
}

diesel::table! {
    idempotency_keys (account_id, idempotency_key) {
        account_id -> Text,
        idempotency_key -> Text,
        fingerprint -> Text,
        status_code -> Integer,
        location -> Nullable<Text>,
        body -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        site_id -> Text,
        at -> BigInt,
        actor_account_id -> Nullable<Text>,
        action -> Text,
        request_id -> Nullable<Text>,
        details -> Text,
    }
}

diesel::table! {
    feedback (id) {
        id -> Text,
        site_id -> Text,
        account_id -> Text,
        rating -> Integer,
        comment -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        webhook_id -> Text,
        request_id -> Text,
        target -> Text,
        event_type -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        locked_until -> BigInt,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        claim_token -> Nullable<Text>,
        after_id -> Nullable<Text>,
        grant_id -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Text,
        delivery_id -> Text,
        attempt -> Integer,
        at -> BigInt,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
        duration_ms -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    orgs,
    org_admins,
    sites,
    products,
    site_users,
    grants,
    requester_locks,
    request_blocks,
    access_requests,
    idempotency_keys,
    audit_events,
    feedback,
    webhook_deliveries,
    webhook_attempts,
);
