DROP TABLE requester_locks;
DROP INDEX webhook_deliveries_grant;
DROP INDEX webhook_deliveries_billing_once;
ALTER TABLE webhook_deliveries ADD COLUMN grant_key TEXT;
UPDATE webhook_deliveries SET grant_key = g.site_id || '/' || g.product_key || '/' || g.account_id
  FROM grants g WHERE webhook_deliveries.grant_id = g.id AND webhook_deliveries.event_type = 'billing.seat.start';
ALTER TABLE webhook_deliveries DROP COLUMN grant_id;
CREATE UNIQUE INDEX webhook_deliveries_one_grant ON webhook_deliveries (grant_key) WHERE grant_key IS NOT NULL;

CREATE TABLE product_grants (
    site_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    product_key TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (site_id, account_id, product_key),
    FOREIGN KEY (site_id, product_key) REFERENCES products(site_id, product_key)
);
INSERT INTO product_grants (site_id, account_id, product_key, granted_at)
SELECT site_id, account_id, product_key, granted_at FROM grants WHERE status = 'active';
DROP TABLE grants;

CREATE TABLE audit_events_old (
    id TEXT PRIMARY KEY NOT NULL,
    site_id TEXT NOT NULL REFERENCES sites(id),
    at BIGINT NOT NULL,
    actor_account_id TEXT NOT NULL,
    action TEXT NOT NULL,
    request_id TEXT,
    details TEXT NOT NULL
);
INSERT INTO audit_events_old SELECT id, site_id, at, coalesce(actor_account_id, ''), action, request_id, details FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_old RENAME TO audit_events;
CREATE INDEX audit_events_site ON audit_events (site_id, at, id);
CREATE INDEX audit_events_request ON audit_events (site_id, request_id, at, id);

DROP INDEX access_requests_pending_expiry;
UPDATE access_requests SET status = 'cancelled' WHERE status = 'expired';
ALTER TABLE access_requests DROP COLUMN subject_email_verified;
ALTER TABLE access_requests DROP COLUMN grant_id;
ALTER TABLE access_requests DROP COLUMN expires_at;
ALTER TABLE access_requests DROP COLUMN duration_hours;
ALTER TABLE site_users DROP COLUMN email_verified;
ALTER TABLE products DROP COLUMN seat_limit;
ALTER TABLE products DROP COLUMN max_duration_hours;
ALTER TABLE sites DROP COLUMN pending_ttl_hours;
