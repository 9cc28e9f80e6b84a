"""Give workspaces made before the offers app their default flow in each mode.

The defaults are copied here as they were when this migration was written, so that later
changes to ``offers.services.DEFAULT_OFFERS`` do not change what this migration did.
"""

from django.db import migrations

_DISCOUNT = ("discount", {"percent_off": 25, "duration_months": 3})
_PAUSE = ("pause", {"months_options": [1, 2, 3]})
_DOWNGRADE = ("downgrade", {"targets": {}})
DEFAULT_OFFERS = {
    "too_expensive": [_DISCOUNT, _DOWNGRADE],
    "not_using_enough": [_PAUSE, _DOWNGRADE],
    "missing_features": [_DISCOUNT],
    "switching_competitor": [_DISCOUNT],
    "technical_issues": [_PAUSE],
    "business_closing": [_PAUSE],
    "other": [_DISCOUNT],
}


def backfill(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    FlowConfig = apps.get_model("offers", "FlowConfig")
    Offer = apps.get_model("offers", "Offer")
    for tenant in Tenant.objects.all().iterator():
        for livemode in (False, True):
            if FlowConfig.objects.filter(tenant=tenant, livemode=livemode).exists():
                continue
            config = FlowConfig.objects.create(
                tenant=tenant, livemode=livemode, reasons=list(DEFAULT_OFFERS)
            )
            Offer.objects.bulk_create(
                Offer(config=config, reason=reason, position=position, action=action, params=params)
                for reason, offers in DEFAULT_OFFERS.items()
                for position, (action, params) in enumerate(offers)
            )


class Migration(migrations.Migration):
    dependencies = [("offers", "0001_initial")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
