"""Who may do what in admin: the one table that maps each model to the least role needed.

Merchants (staff users who are not superusers) get access only through this table and
their role in the current workspace; Django's per-user model permissions are not
consulted for them. A model missing from the table is for operators (superusers) only.
Roles nest: an owner may do everything an admin may, an admin everything a viewer may.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .models import Membership

Operation = Literal["view", "add", "change", "delete", "actions"]
OPERATIONS: tuple[Operation, ...] = ("view", "add", "change", "delete", "actions")

OWNER, ADMIN, VIEWER = Membership.Role.OWNER, Membership.Role.ADMIN, Membership.Role.VIEWER
RANK = {VIEWER: 1, ADMIN: 2, OWNER: 3}


@dataclass(frozen=True)
class Access:
    """The least role for each operation on a model; None: operators only."""

    view: str | None = None
    add: str | None = None
    change: str | None = None
    delete: str | None = None
    actions: str | None = None


ACCESS: dict[str, Access] = {
    # The workspace itself: branding and return URLs are the owner's.
    "tenants.tenant": Access(view=ADMIN, change=OWNER),
    "tenants.membership": Access(view=OWNER, add=OWNER, change=OWNER, delete=OWNER, actions=OWNER),
    "tenants.apikey": Access(view=OWNER, add=OWNER, change=OWNER, actions=OWNER),
    "billing.stripeconnection": Access(view=OWNER, add=OWNER, change=OWNER, actions=OWNER),
    "billing.stripeevent": Access(view=OWNER, actions=OWNER),
    "offers.flowconfig": Access(view=ADMIN, change=ADMIN),
    "offers.offer": Access(view=ADMIN, add=ADMIN, change=ADMIN, delete=ADMIN),
    # Segment flows: who gets which reasons and offers.
    "offers.flow": Access(view=ADMIN, add=ADMIN, change=ADMIN, delete=ADMIN),
    "webhooks.endpoint": Access(view=ADMIN, add=ADMIN, change=ADMIN, delete=ADMIN, actions=ADMIN),
    # The delivery log is readable by everyone in the workspace; resending is an admin's.
    "webhooks.event": Access(view=VIEWER, actions=ADMIN),
    "webhooks.delivery": Access(view=VIEWER, actions=ADMIN),
    "webhooks.deliveryattempt": Access(view=VIEWER),
    "sessions_app.session": Access(view=VIEWER),
    # The subscription hub: visits are read by everyone; allowed plan changes are priced
    # offers, set by owners and admins.
    "hub.hubsession": Access(view=VIEWER),
    "hub.hubaction": Access(view=VIEWER),
    "hub.planchange": Access(view=ADMIN, add=ADMIN, change=ADMIN, delete=ADMIN, actions=ADMIN),
    # Experiments: everyone reads them and their results; owners create, start and stop
    # them and set the traffic split.
    "experiments.experiment": Access(
        view=VIEWER, add=OWNER, change=OWNER, delete=OWNER, actions=OWNER
    ),
    "experiments.arm": Access(view=VIEWER, add=OWNER, change=OWNER, delete=OWNER),
    # Saves checked against Stripe at 30/60/90 days: read by everyone, written only by the
    # verification itself.
    "retention.save": Access(view=VIEWER),
    "retention.savecheckpoint": Access(view=VIEWER),
    # Who changed what: for those who make changes, not for viewers.
    "audit.auditentry": Access(view=ADMIN, actions=ADMIN),
}

# Pages that are not a model's: the least role to open them.
PAGES: dict[str, str | None] = {
    "analytics": VIEWER,
    "flow_preview": ADMIN,
    "operations": None,
}


def role_allows(role: str | None, model_label: str, operation: Operation) -> bool:
    """Whether a member with ``role`` may perform ``operation`` on ``model_label``."""
    needed = getattr(ACCESS.get(model_label, Access()), operation)
    return _at_least(role, needed)


def page_allows(role: str | None, page: str) -> bool:
    return _at_least(role, PAGES.get(page))


def _at_least(role: str | None, needed: str | None) -> bool:
    if role is None or needed is None:
        return False
    return RANK[role] >= RANK[needed]
