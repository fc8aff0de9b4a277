-- Fencing: the claim writes a random token; an attempt is recorded only by its holder.
ALTER TABLE webhook_deliveries ADD COLUMN claim_token TEXT;
-- Ordering: the delivery that must be `delivered` before this one may be sent.
ALTER TABLE webhook_deliveries ADD COLUMN after_id TEXT;
-- Claims take due rows per target; this replaces the index over all targets.
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_claimable ON webhook_deliveries (target, next_attempt_at) WHERE status = 'pending';
-- Retention: delivered rows are pruned by age, idempotent responses after a day.
CREATE INDEX webhook_deliveries_delivered_at ON webhook_deliveries (updated_at) WHERE status = 'delivered';
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
