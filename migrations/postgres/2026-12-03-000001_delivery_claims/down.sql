DROP INDEX idempotency_keys_created;
DROP INDEX webhook_deliveries_delivered_at;
DROP INDEX webhook_deliveries_claimable;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
ALTER TABLE webhook_deliveries DROP COLUMN after_id;
ALTER TABLE webhook_deliveries DROP COLUMN claim_token;
