"""Everything that writes saves, their timeline and their checkpoints."""

from .saves import (
    save_record_for_custom_session,
    save_record_for_session,
    save_record_listener,
    saves_record_missing,
    saves_revenue_refresh,
)
from .timeline import invoice_payment_record, subscription_change_record
from .verification import (
    RecheckResult,
    TokenBucket,
    VerifyResult,
    checkpoints_recheck,
    checkpoints_settle_from_events,
    saves_verify,
)

__all__ = [
    "RecheckResult",
    "TokenBucket",
    "VerifyResult",
    "checkpoints_recheck",
    "checkpoints_settle_from_events",
    "invoice_payment_record",
    "save_record_for_custom_session",
    "save_record_for_session",
    "save_record_listener",
    "saves_record_missing",
    "saves_revenue_refresh",
    "saves_verify",
    "subscription_change_record",
]
