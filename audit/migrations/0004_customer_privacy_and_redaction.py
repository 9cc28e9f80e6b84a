"""The erasure of a customer may rewrite what one workspace's audit entries say about them.

The trigger of 0002 refused every UPDATE. It now lets one kind through: in a transaction
that set ``mrrx.audit_redact_tenant`` (``set_config(..., true)``, gone at commit or
rollback; ``audit.services.audit_entries_redact`` sets it around its statements only), an
UPDATE of a row of that workspace that changes nothing but ``changes``, ``user_agent`` and
``ip``, and ``ip`` only to NULL. Who acted, what was done to which object, and when, can
never be rewritten; rows of any other workspace stay refused; DELETE is still only the
retention prune's. Also the two actions the privacy API records.

SQLite has no session settings; there the model layer's guard is what holds.
"""

from django.db import migrations, models

FORWARD = """
CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    prune_before text := current_setting('mrrx.audit_prune_before', true);
    redact_tenant text := current_setting('mrrx.audit_redact_tenant', true);
BEGIN
    IF TG_OP = 'DELETE' AND coalesce(prune_before, '') <> ''
            AND OLD.created_at < prune_before::timestamptz THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND coalesce(redact_tenant, '') <> ''
            AND OLD.tenant_id = redact_tenant
            AND (NEW.ip IS NULL OR NEW.ip = OLD.ip)
            AND NEW.livemode IS NOT DISTINCT FROM OLD.livemode
            AND (NEW.id, NEW.created_at, NEW.tenant_id, NEW.actor_kind, NEW.actor_id,
                 NEW.actor_label, NEW.action, NEW.object_type, NEW.object_id, NEW.object_repr)
              = (OLD.id, OLD.created_at, OLD.tenant_id, OLD.actor_kind, OLD.actor_id,
                 OLD.actor_label, OLD.action, OLD.object_type, OLD.object_id, OLD.object_repr)
            THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only: % of % refused', TG_OP, OLD.id
        USING HINT = 'Entries leave only by the retention prune; a customer''s details by erasure.';
END;
$$;
"""

# 0002's function, as it was.
BACKWARD = """
CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    prune_before text := current_setting('mrrx.audit_prune_before', true);
BEGIN
    IF TG_OP = 'DELETE' AND coalesce(prune_before, '') <> ''
            AND OLD.created_at < prune_before::timestamptz THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only: % of % refused', TG_OP, OLD.id
        USING HINT = 'Entries leave the log only by the retention prune.';
END;
$$;
"""


class PostgreSQLOnly(migrations.RunSQL):
    """RunSQL that does nothing on other databases."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_endpoint_enabled_and_disabled")]

    operations = [
        migrations.AlterField(
            model_name="auditentry",
            name="action",
            field=models.CharField(
                choices=[
                    ("admin.added", "added in admin"),
                    ("admin.changed", "changed in admin"),
                    ("admin.deleted", "deleted in admin"),
                    ("api_key.issued", "API key issued"),
                    ("api_key.revoked", "API key revoked"),
                    ("webhook_secret.issued", "webhook signing secret issued"),
                    ("webhook_secret.rotated", "webhook signing secret rotated"),
                    ("webhook_endpoint.disabled", "webhook endpoint disabled"),
                    ("webhook_endpoint.enabled", "webhook endpoint enabled"),
                    ("stripe.connected", "Stripe connected"),
                    ("stripe.key_replaced", "Stripe key replaced"),
                    ("stripe.webhook_secret_replaced", "Stripe webhook signing secret replaced"),
                    ("stripe.disconnected", "Stripe disconnected"),
                    ("flow_config.changed", "flow configuration changed"),
                    ("offer.added", "offer added"),
                    ("offer.changed", "offer changed"),
                    ("offer.deleted", "offer deleted"),
                    ("webhook.event_resent", "webhook event resent"),
                    ("webhook.failed_resent", "failed webhook deliveries resent"),
                    ("session.viewed", "subscriber opened the flow"),
                    ("session.offer_shown", "subscriber gave a reason, offers shown"),
                    ("session.action_selected", "subscriber chose an action"),
                    ("session.survey_completed", "subscriber completed the survey"),
                    ("session.executing", "subscriber confirmed"),
                    ("session.completed", "action executed"),
                    ("session.failed", "action failed"),
                    ("customer.exported", "customer's data exported"),
                    ("customer.erased", "customer's data erased"),
                ],
                editable=False,
                max_length=64,
            ),
        ),
        PostgreSQLOnly(FORWARD, BACKWARD),
    ]
