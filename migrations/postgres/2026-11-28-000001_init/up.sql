CREATE TABLE orgs (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    verified_domains TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE org_admins (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    account_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, account_id)
);
CREATE INDEX org_admins_account ON org_admins (account_id);

CREATE TABLE sites (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    in_rollout BOOLEAN NOT NULL,
    opted_out BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sites_org ON sites (org_id, created_at);

CREATE TABLE products (
    site_id TEXT NOT NULL REFERENCES sites(id),
    product_key TEXT NOT NULL,
    name TEXT NOT NULL,
    default_group TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (site_id, product_key)
);

CREATE TABLE site_users (
    site_id TEXT NOT NULL REFERENCES sites(id),
    account_id TEXT NOT NULL,
    email TEXT NOT NULL,
    display_name TEXT,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (site_id, account_id)
);
CREATE INDEX site_users_admins ON site_users (account_id, role);

CREATE TABLE product_grants (
    site_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    product_key TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (site_id, account_id, product_key),
    FOREIGN KEY (site_id, product_key) REFERENCES products(site_id, product_key)
);

CREATE TABLE request_blocks (
    site_id TEXT NOT NULL REFERENCES sites(id),
    account_id TEXT NOT NULL,
    email TEXT NOT NULL,
    request_id TEXT,
    blocked_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (site_id, account_id)
);

CREATE TABLE access_requests (
    id TEXT PRIMARY KEY NOT NULL,
    site_id TEXT NOT NULL REFERENCES sites(id),
    product_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    requester_account_id TEXT NOT NULL,
    requester_email TEXT NOT NULL,
    requester_display_name TEXT,
    requester_on_site BOOLEAN NOT NULL,
    subject_account_id TEXT NOT NULL,
    subject_email TEXT,
    subject_display_name TEXT,
    subject_on_site BOOLEAN NOT NULL,
    reason TEXT,
    created_at BIGINT NOT NULL,
    decided_at BIGINT,
    decided_by TEXT,
    decision_message TEXT,
    version BIGINT NOT NULL,
    FOREIGN KEY (site_id, product_key) REFERENCES products(site_id, product_key)
);
-- One pending request per site, product and subject: the database enforces it.
CREATE UNIQUE INDEX access_requests_one_pending
    ON access_requests (site_id, product_key, subject_account_id) WHERE status = 'pending';
CREATE INDEX access_requests_site_created ON access_requests (site_id, created_at, id);
CREATE INDEX access_requests_site_status ON access_requests (site_id, status, created_at, id);
CREATE INDEX access_requests_site_product ON access_requests (site_id, product_key, created_at, id);
CREATE INDEX access_requests_site_requester ON access_requests (site_id, requester_account_id, status);
CREATE INDEX access_requests_site_subject ON access_requests (site_id, subject_account_id, status);
CREATE INDEX access_requests_requester_created ON access_requests (requester_account_id, created_at);
CREATE INDEX access_requests_subject_created ON access_requests (subject_account_id, created_at);

CREATE TABLE idempotency_keys (
    account_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    location TEXT,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, idempotency_key)
);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    site_id TEXT NOT NULL REFERENCES sites(id),
    at BIGINT NOT NULL,
    actor_account_id TEXT NOT NULL,
    action TEXT NOT NULL,
    request_id TEXT,
    details TEXT NOT NULL
);
CREATE INDEX audit_events_site ON audit_events (site_id, at, id);
CREATE INDEX audit_events_request ON audit_events (site_id, request_id, at, id);

CREATE TABLE feedback (
    id TEXT PRIMARY KEY NOT NULL,
    site_id TEXT NOT NULL REFERENCES sites(id),
    account_id TEXT NOT NULL,
    rating INTEGER NOT NULL,
    comment TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX feedback_created ON feedback (created_at, id);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    webhook_id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL,
    target TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    last_error TEXT,
    grant_key TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- billing.seat.start at most once per site, product and account.
CREATE UNIQUE INDEX webhook_deliveries_one_grant ON webhook_deliveries (grant_key) WHERE grant_key IS NOT NULL;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at, id);
CREATE INDEX webhook_deliveries_status_created ON webhook_deliveries (status, created_at, id);

CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY NOT NULL,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id),
    attempt INTEGER NOT NULL,
    at BIGINT NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);
