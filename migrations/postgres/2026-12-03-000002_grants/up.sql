-- Access that ends: grants as a resource, time-bound access, seats, pending expiry.

ALTER TABLE sites ADD COLUMN pending_ttl_hours INTEGER;
ALTER TABLE products ADD COLUMN max_duration_hours INTEGER;
ALTER TABLE products ADD COLUMN seat_limit BIGINT;
-- False for a user an approval added with an email the requester typed.
ALTER TABLE site_users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT TRUE;

ALTER TABLE access_requests ADD COLUMN duration_hours INTEGER;
-- When a pending request expires if nobody decides it.
ALTER TABLE access_requests ADD COLUMN expires_at BIGINT;
ALTER TABLE access_requests ADD COLUMN grant_id TEXT;
-- False when the subject's email is one the requester typed (never proven by anyone).
ALTER TABLE access_requests ADD COLUMN subject_email_verified BOOLEAN NOT NULL DEFAULT TRUE;
UPDATE access_requests SET subject_email_verified = FALSE WHERE kind = 'on_behalf' AND NOT subject_on_site;
UPDATE access_requests SET expires_at = created_at + 604800000000 WHERE status = 'pending';
CREATE INDEX access_requests_pending_expiry ON access_requests (expires_at) WHERE status = 'pending';

-- Work the service does by itself (expiry) has no actor.
ALTER TABLE audit_events ALTER COLUMN actor_account_id DROP NOT NULL;

-- One person's access to one product on one site, from its start to its end.
CREATE TABLE grants (
    id TEXT PRIMARY KEY NOT NULL,
    site_id TEXT NOT NULL,
    product_key TEXT NOT NULL,
    account_id TEXT NOT NULL,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    request_id TEXT,
    -- The product's default group when the grant began: the group its end leaves.
    group_name TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    granted_by TEXT,
    expires_at BIGINT,
    ended_at BIGINT,
    ended_by TEXT,
    end_reason TEXT,
    -- When grant.expiring was queued (once per grant).
    warned_at BIGINT,
    version BIGINT NOT NULL,
    FOREIGN KEY (site_id, product_key) REFERENCES products(site_id, product_key)
);
-- One active grant per site, account and product: the database enforces it.
CREATE UNIQUE INDEX grants_one_active ON grants (site_id, account_id, product_key) WHERE status = 'active';
CREATE INDEX grants_site_granted ON grants (site_id, granted_at, id);
CREATE INDEX grants_site_status ON grants (site_id, status, granted_at, id);
CREATE INDEX grants_site_product ON grants (site_id, product_key, status);
CREATE INDEX grants_due ON grants (expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;
CREATE INDEX grants_warn ON grants (expires_at)
    WHERE status = 'active' AND warned_at IS NULL AND expires_at IS NOT NULL AND source = 'request';

-- Every product held today becomes an active grant: `request` where an approved request gave it.
INSERT INTO grants (id, site_id, product_key, account_id, status, source, request_id, group_name,
                    granted_at, granted_by, expires_at, ended_at, ended_by, end_reason, warned_at, version)
SELECT gen_random_uuid()::text, held.site_id, held.product_key, held.account_id, 'active',
       CASE WHEN approved.id IS NULL THEN 'directory' ELSE 'request' END,
       approved.id, p.default_group, held.granted_at, approved.decided_by,
       NULL, NULL, NULL, NULL, NULL, 1
  FROM product_grants held
  JOIN products p ON p.site_id = held.site_id AND p.product_key = held.product_key
  LEFT JOIN LATERAL (
        SELECT r.id, r.decided_by FROM access_requests r
         WHERE r.site_id = held.site_id AND r.product_key = held.product_key
           AND r.subject_account_id = held.account_id AND r.status = 'approved'
         ORDER BY r.decided_at DESC LIMIT 1) approved ON TRUE;
UPDATE access_requests r SET grant_id = g.id FROM grants g WHERE g.request_id = r.id;
DROP TABLE product_grants;

-- Deliveries name their grant; billing is exact per grant: the database refuses a second
-- billing.seat.start or billing.seat.end of one grant.
ALTER TABLE webhook_deliveries ADD COLUMN grant_id TEXT;
UPDATE webhook_deliveries d SET grant_id = g.id FROM grants g
 WHERE d.grant_key = g.site_id || '/' || g.product_key || '/' || g.account_id;
UPDATE webhook_deliveries d SET grant_id = g.id FROM grants g
 WHERE d.grant_id IS NULL AND d.event_type = 'group.member.add' AND g.request_id = d.request_id;
DROP INDEX webhook_deliveries_one_grant;
ALTER TABLE webhook_deliveries DROP COLUMN grant_key;
CREATE UNIQUE INDEX webhook_deliveries_billing_once ON webhook_deliveries (grant_id, event_type)
    WHERE event_type IN ('billing.seat.start', 'billing.seat.end');
CREATE INDEX webhook_deliveries_grant ON webhook_deliveries (grant_id) WHERE grant_id IS NOT NULL;

-- One row per requester: creations lock it, so the abuse limits hold exactly under concurrency.
CREATE TABLE requester_locks (
    account_id TEXT PRIMARY KEY NOT NULL,
    touched_at BIGINT NOT NULL
);
