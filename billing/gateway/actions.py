"""The actions on a subscription: pause, resume, discount, price swap and change, trial
extension, cancellation and its undoing (reactivate). Each write is safe to repeat: it
carries an idempotency key and records it in the subscription's metadata, and its outcome
is read back from Stripe."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import stripe

from mrrx.formats import iso_timestamp

from .errors import StripeGatewayError, stripe_errors
from .shapes import (
    COMMENT_MAX,
    DISCOUNT_POLICIES,
    DISCOUNT_REPLACE,
    DISCOUNT_SKIP_IF_DISCOUNTED,
    DISCOUNT_STACK,
    GONE_STATUSES,
    META_ACTION,
    META_ACTION_AT,
    META_DISCOUNTS_BEFORE,
    META_ORIGINAL_TRIAL_END,
    META_PAUSE_RESUMES_AT,
    META_PREVIOUS_PRICE,
    PAUSE_BEHAVIORS,
    PAUSE_COLLECTION,
    PAUSE_METHODS,
    SUBSCRIPTION_PAUSE,
    Subscription,
    coupon_duration_months,
    coupon_id_for,
    coupon_ids,
    feedback_for_stripe,
    plain,
    plain_number,
    subscription_from_stripe,
    today_midnight,
    utc_datetime,
    utc_iso,
)


class SubscriptionActions:
    """The writes of :class:`StripeGateway` that act on a subscription."""

    _stripe: stripe.StripeClient

    def _subscription_raw(self, subscription_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def _update(self, subscription_id: str, params: dict[str, Any], idempotency_key: str) -> None:
        with stripe_errors("subscriptions.update", missing_code="subscription_not_found"):
            self._stripe.v1.subscriptions.update(
                subscription_id, params, {"idempotency_key": idempotency_key}
            )

    @staticmethod
    def _done(current: dict[str, Any], idempotency_key: str) -> bool:
        """Whether the write for this key already happened (a retry after a lost answer)."""
        return (current.get("metadata") or {}).get(META_ACTION) == idempotency_key

    @staticmethod
    def _marker(idempotency_key: str, **extra: str) -> dict[str, str]:
        # Day-granular, like the pause dates: a retry of the same write (a worker killed
        # mid-call, a lost answer) sends identical parameters, so Stripe's idempotency
        # replays it instead of refusing a changed request.
        day = int(today_midnight().timestamp())
        return {META_ACTION: idempotency_key, META_ACTION_AT: str(day), **extra}

    def pause(
        self,
        subscription_id: str,
        *,
        days: int,
        idempotency_key: str,
        method: str = PAUSE_COLLECTION,
        behavior: str = "void",
    ) -> dict[str, Any]:
        """Pause until midnight UTC ``days`` from today, by ``method``:

        - ``pause_collection``: Stripe keeps the subscription ``active`` (access stays on in
          the merchant's product) and treats its invoices by ``behavior`` (``void``,
          ``keep_as_draft`` or ``mark_uncollectible``) until ``resumes_at``, when Stripe
          collects again by itself;
        - ``subscription_pause``: Stripe's pause endpoint: status ``paused``, no invoices
          and no new periods until resumed. Stripe has no resume date for it, so the
          date is MRRX's to keep (:meth:`pause_end`, run when it comes).
        """
        if method not in PAUSE_METHODS:
            raise ValueError(f"Unknown pause method {method!r}")
        if method == PAUSE_COLLECTION and behavior not in PAUSE_BEHAVIORS:
            raise ValueError(f"Unknown pause_collection behavior {behavior!r}")
        current = self._subscription_raw(subscription_id)
        # Day-granular, so a retry the same day sends exactly the same parameters.
        resumes_at = today_midnight() + timedelta(days=days)
        if not self._done(current, idempotency_key):
            if method == PAUSE_COLLECTION:
                params: dict[str, Any] = {
                    "pause_collection": {
                        "behavior": behavior,
                        "resumes_at": int(resumes_at.timestamp()),
                    },
                    "metadata": self._marker(idempotency_key),
                }
            else:
                # The marker (with the date to resume) first, then the pause below: a
                # retry finds the date already chosen and only pauses if still needed.
                resume_ts = str(int(resumes_at.timestamp()))
                params = {
                    "metadata": self._marker(idempotency_key, **{META_PAUSE_RESUMES_AT: resume_ts})
                }
            self._update(subscription_id, params, f"{idempotency_key}:update")
            current = self._subscription_raw(subscription_id)
        if method == SUBSCRIPTION_PAUSE and current.get("status") != "paused":
            with stripe_errors("subscriptions.pause", missing_code="subscription_not_found"):
                self._stripe.v1.subscriptions.pause(
                    subscription_id,
                    {"type": "subscription"},
                    {"idempotency_key": f"{idempotency_key}:pause"},
                )
            current = self._subscription_raw(subscription_id)
        metadata = current.get("metadata") or {}
        paused_on = utc_datetime(int(metadata.get(META_ACTION_AT) or time.time()))
        assert paused_on is not None
        if method == PAUSE_COLLECTION:
            pause = current.get("pause_collection") or {}
            if not pause.get("resumes_at"):
                raise StripeGatewayError("stripe_error", "Stripe did not record the pause.")
            resumes = utc_datetime(pause["resumes_at"])
            details = {"pause_method": PAUSE_COLLECTION, "pause_behavior": pause["behavior"]}
        else:
            if current.get("status") != "paused" or not metadata.get(META_PAUSE_RESUMES_AT):
                raise StripeGatewayError("stripe_error", "Stripe did not record the pause.")
            resumes = utc_datetime(int(metadata[META_PAUSE_RESUMES_AT]))
            details = {"pause_method": SUBSCRIPTION_PAUSE, "pause_behavior": None}
        assert resumes is not None
        return {
            "pause_duration_days": (resumes.date() - paused_on.date()).days,
            "resume_date": iso_timestamp(resumes),
            **details,
        }

    def pause_end(self, subscription_id: str, *, pause_key: str) -> bool:
        """Resume a subscription that the pause with ``pause_key`` put in Stripe's
        ``paused`` status, if it is still that pause (nothing else has been done to the
        subscription since); True when it is active again because of this call or an
        earlier one, False when there is nothing of that pause left to end."""
        current = self._subscription_raw(subscription_id)
        metadata = current.get("metadata") or {}
        key = f"{pause_key}:resume"
        if metadata.get(META_ACTION) == key:
            return True
        if current.get("status") != "paused" or metadata.get(META_ACTION) != pause_key:
            return False
        with stripe_errors("subscriptions.resume", missing_code="subscription_not_found"):
            self._stripe.v1.subscriptions.resume(
                subscription_id,
                {
                    "billing_cycle_anchor": {"type": "now"},
                    "payment_behavior": "resume_on_payment_attempt",
                },
                {"idempotency_key": f"{key}:resume"},
            )
        self._update(subscription_id, {"metadata": self._marker(key)}, f"{key}:update")
        return True

    def resume(self, subscription_id: str, *, idempotency_key: str) -> Subscription:
        """Collect payment again now: clears ``pause_collection``, or resumes a subscription
        that Stripe's pause endpoint paused (its billing cycle restarting now)."""
        current = self._subscription_raw(subscription_id)
        if current.get("status") == "paused":
            with stripe_errors("subscriptions.resume", missing_code="subscription_not_found"):
                self._stripe.v1.subscriptions.resume(
                    subscription_id,
                    {"billing_cycle_anchor": {"type": "now"}},
                    {"idempotency_key": f"{idempotency_key}:resume"},
                )
        if current.get("pause_collection"):
            self._update(subscription_id, {"pause_collection": ""}, f"{idempotency_key}:update")
        return self.subscription_get(subscription_id)

    def _coupon(self, coupon_id: str) -> dict[str, Any] | None:
        try:
            with stripe_errors("coupons.retrieve", missing_code="coupon_not_found"):
                return plain(self._stripe.v1.coupons.retrieve(coupon_id))
        except StripeGatewayError as exc:
            if exc.code == "coupon_not_found":
                return None
            raise

    def _coupon_ensure(
        self,
        *,
        percent_off: int | None,
        amount_off: int | None,
        currency: str | None,
        duration_months: int | None,
        idempotency_key: str,
    ) -> dict[str, Any]:
        if (percent_off is None) == (amount_off is None):
            raise ValueError("Give exactly one of percent_off and amount_off.")
        if amount_off is not None and not currency:
            raise ValueError("amount_off needs a currency.")
        coupon_id = coupon_id_for(
            percent_off=percent_off,
            amount_off=amount_off,
            currency=currency,
            duration_months=duration_months,
        )
        existing = self._coupon(coupon_id)
        if existing is not None:
            return existing
        off = f"{percent_off}%" if percent_off is not None else f"{amount_off} {currency}"
        params: dict[str, Any] = {
            "id": coupon_id,
            "name": f"{off} off"
            + (f" for {duration_months} months" if duration_months else " forever"),
            "metadata": {"created_by": "mrrx"},
        }
        if percent_off is not None:
            params["percent_off"] = percent_off
        else:
            params.update(amount_off=amount_off, currency=(currency or "").lower())
        if duration_months:
            params.update(duration="repeating", duration_in_months=duration_months)
        else:
            params["duration"] = "forever"
        try:
            with stripe_errors("coupons.create"):
                return plain(
                    self._stripe.v1.coupons.create(params, {"idempotency_key": idempotency_key})
                )
        except StripeGatewayError as exc:
            # Created meanwhile by a concurrent session with the same offer.
            if exc.stripe_code == "resource_already_exists":
                coupon = self._coupon(coupon_id)
                if coupon is not None:
                    return coupon
            raise

    def discount_apply(
        self,
        subscription_id: str,
        *,
        idempotency_key: str,
        coupon_id: str | None = None,
        percent_off: int | None = None,
        amount_off: int | None = None,
        currency: str | None = None,
        duration_months: int | None = None,
        policy: str = DISCOUNT_SKIP_IF_DISCOUNTED,
    ) -> dict[str, Any]:
        """Apply a coupon (the configured one, or MRRX's for these parameters) to the
        subscription, never silently over a discount already in force (the subscription's
        own, or else its customer's), by ``policy``:

        - ``skip_if_discounted``: only when no discount is in force (else
          ``action_not_available``, nothing changed);
        - ``replace``: the coupon alone (the subscription's own discounts are removed; a
          customer's discount stays on the customer but no longer applies to it);
        - ``stack``: the discounts in force kept (a customer's one reused on the
          subscription) and the coupon added after them.
        """
        if policy not in DISCOUNT_POLICIES:
            raise ValueError(f"Unknown discount policy {policy!r}")
        if coupon_id:
            coupon = self._coupon(coupon_id)
            if coupon is None:
                raise StripeGatewayError(
                    "stripe_error",
                    f"The configured coupon {coupon_id} does not exist in Stripe.",
                    stripe_code="resource_missing",
                    http_status=404,
                )
        else:
            coupon = self._coupon_ensure(
                percent_off=percent_off,
                amount_off=amount_off,
                currency=currency,
                duration_months=duration_months,
                idempotency_key=f"{idempotency_key}:coupon",
            )
        current = self._subscription_raw(subscription_id)
        applied = coupon_ids(current.get("discounts") or [])
        if coupon["id"] not in applied and not self._done(current, idempotency_key):
            own = [d for d in current.get("discounts") or [] if isinstance(d, dict)]
            customer = current.get("customer")
            inherited = customer.get("discount") if isinstance(customer, dict) else None
            # The customer's discount counts only while the subscription has none of its own.
            before = own or ([inherited] if isinstance(inherited, dict) else [])
            if before and policy == DISCOUNT_SKIP_IF_DISCOUNTED:
                raise StripeGatewayError(
                    "action_not_available",
                    "A discount is already in force on the subscription or its customer, "
                    "and this offer neither replaces nor adds to one.",
                )
            keep = [{"discount": d["id"]} for d in before] if policy == DISCOUNT_STACK else []
            self._update(
                subscription_id,
                {
                    "discounts": [*keep, {"coupon": coupon["id"]}],
                    "metadata": self._marker(
                        idempotency_key,
                        **{META_DISCOUNTS_BEFORE: ",".join(coupon_ids(before))[:500]},
                    ),
                },
                f"{idempotency_key}:update",
            )
            current = self._subscription_raw(subscription_id)
            applied = coupon_ids(current.get("discounts") or [])
        if coupon["id"] not in applied:
            raise StripeGatewayError("stripe_error", "Stripe did not apply the coupon.")
        metadata = current.get("metadata") or {}
        before_ids = [c for c in (metadata.get(META_DISCOUNTS_BEFORE) or "").split(",") if c]
        if metadata.get(META_ACTION) != idempotency_key:
            before_ids = []  # the coupon was there already: nothing was replaced or kept
        percent = coupon.get("percent_off")
        return {
            "discount_type": "percent" if percent is not None else "amount",
            "discount_amount": plain_number(percent)
            if percent is not None
            else coupon["amount_off"],
            "duration_months": coupon_duration_months(coupon),
            "coupon_id": coupon["id"],
            "discount_policy": policy,
            # The coupons in force before: kept beside the new one (stack) or replaced.
            "other_coupon_ids": [c for c in applied if c != coupon["id"]]
            if policy == DISCOUNT_STACK
            else [],
            "replaced_coupon_ids": before_ids if policy == DISCOUNT_REPLACE else [],
        }

    def price_swap(
        self,
        subscription_id: str,
        *,
        new_price_id: str,
        proration_behavior: str,
        idempotency_key: str,
        proration_date: int | None = None,
    ) -> dict[str, Any]:
        """Swap the subscription item's price, keeping the item; prorated as of
        ``proration_date`` when given (the moment of the preview the subscriber saw)."""
        current = self._price_write(
            subscription_id,
            new_price_id=new_price_id,
            proration_behavior=proration_behavior,
            proration_date=proration_date,
            idempotency_key=idempotency_key,
        )
        after = subscription_from_stripe(current)
        if after.price_id != new_price_id:
            raise StripeGatewayError("stripe_error", "Stripe did not change the price.")
        return {
            "previous_price_id": (current.get("metadata") or {}).get(META_PREVIOUS_PRICE),
            "new_price_id": after.price_id,
            "new_amount": after.amount,
        }

    def _price_write(
        self,
        subscription_id: str,
        *,
        new_price_id: str,
        proration_behavior: str,
        proration_date: int | None,
        idempotency_key: str,
    ) -> dict[str, Any]:
        """Put the item on ``new_price_id`` once; the subscription as Stripe has it after."""
        current = self._subscription_raw(subscription_id)
        if not self._done(current, idempotency_key):
            before = subscription_from_stripe(current)
            params: dict[str, Any] = {
                "items": [{"id": before.item_id, "price": new_price_id}],
                "proration_behavior": proration_behavior,
                "metadata": self._marker(idempotency_key, **{META_PREVIOUS_PRICE: before.price_id}),
            }
            if proration_date and proration_behavior != "none":
                params["proration_date"] = proration_date
            self._update(subscription_id, params, f"{idempotency_key}:update")
            current = self._subscription_raw(subscription_id)
        return current

    def price_change(
        self,
        subscription_id: str,
        *,
        new_price_id: str,
        proration_behavior: str,
        proration_date: int | None,
        idempotency_key: str,
    ) -> dict[str, Any]:
        """Move the subscription to another price the customer chose, prorated as of
        ``proration_date``: the moment of the preview the customer saw, so that what they
        are charged is what they were shown (:meth:`invoice_preview` with the same date)."""
        current = self._price_write(
            subscription_id,
            new_price_id=new_price_id,
            proration_behavior=proration_behavior,
            proration_date=proration_date,
            idempotency_key=idempotency_key,
        )
        after = subscription_from_stripe(current)
        if after.price_id != new_price_id:
            raise StripeGatewayError("stripe_error", "Stripe did not change the price.")
        return {
            "previous_price_id": (current.get("metadata") or {}).get(META_PREVIOUS_PRICE),
            "new_price_id": after.price_id,
            "new_amount": after.amount,
            "currency": after.currency,
            "interval": after.interval,
            "interval_count": after.interval_count,
            "proration_behavior": proration_behavior,
        }

    def reactivate(self, subscription_id: str, *, idempotency_key: str) -> dict[str, Any]:
        """Undo a scheduled cancellation: the subscription renews again
        (``cancel_at_period_end`` false). Nothing to undo is no error: it is done."""
        current = self._subscription_raw(subscription_id)
        if current.get("status") in GONE_STATUSES:
            raise StripeGatewayError(
                "action_not_available", "A subscription that has ended cannot be reactivated."
            )
        if current.get("cancel_at_period_end") or current.get("cancel_at"):
            params: dict[str, Any] = {"metadata": self._marker(idempotency_key)}
            if current.get("cancel_at_period_end"):
                params["cancel_at_period_end"] = False
            else:
                # A cancellation on a date of its own, not the period's end.
                params["cancel_at"] = ""
            self._update(subscription_id, params, f"{idempotency_key}:update")
            current = self._subscription_raw(subscription_id)
        if current.get("cancel_at_period_end") or current.get("cancel_at"):
            raise StripeGatewayError("stripe_error", "Stripe did not undo the cancellation.")
        return {
            "cancel_at_period_end": False,
            "current_period_end": iso_timestamp(
                subscription_from_stripe(current).current_period_end
            ),
        }

    def trial_extend(
        self, subscription_id: str, *, days: int, idempotency_key: str
    ) -> dict[str, Any]:
        """Move a trialing subscription's ``trial_end`` on by ``days``, without proration."""
        current = self._subscription_raw(subscription_id)
        if not self._done(current, idempotency_key):
            if current.get("status") != "trialing" or not current.get("trial_end"):
                raise StripeGatewayError(
                    "action_not_available", "Only a trialing subscription can be extended."
                )
            original = current["trial_end"]
            self._update(
                subscription_id,
                {
                    "trial_end": original + days * 86400,
                    "proration_behavior": "none",
                    "metadata": self._marker(
                        idempotency_key, **{META_ORIGINAL_TRIAL_END: str(original)}
                    ),
                },
                f"{idempotency_key}:update",
            )
            current = self._subscription_raw(subscription_id)
        original = int((current.get("metadata") or {})[META_ORIGINAL_TRIAL_END])
        new_end = current.get("trial_end")
        if not new_end or new_end <= original:
            raise StripeGatewayError("stripe_error", "Stripe did not extend the trial.")
        return {
            "extension_days": round((new_end - original) / 86400),
            "new_trial_end": utc_iso(new_end),
            "original_trial_end": utc_iso(original),
        }

    def cancel(
        self,
        subscription_id: str,
        *,
        at_period_end: bool,
        feedback: str | None,
        comment: str | None,
        idempotency_key: str,
    ) -> dict[str, Any]:
        """Cancel now or at the period's end, telling Stripe why.

        ``feedback`` may be a survey reason (mapped by ``CANCELLATION_FEEDBACK``) or one of
        Stripe's feedback values.
        """
        details: dict[str, str] = {}
        if mapped := feedback_for_stripe(feedback):
            details["feedback"] = mapped
        if comment:
            details["comment"] = comment[:COMMENT_MAX]
        current = self._subscription_raw(subscription_id)
        if current.get("status") != "canceled":
            if not at_period_end:
                with stripe_errors("subscriptions.cancel", missing_code="subscription_not_found"):
                    self._stripe.v1.subscriptions.cancel(
                        subscription_id,
                        {"cancellation_details": details} if details else {},
                        {"idempotency_key": f"{idempotency_key}:cancel"},
                    )
                current = self._subscription_raw(subscription_id)
            elif not (current.get("cancel_at_period_end") and self._done(current, idempotency_key)):
                params: dict[str, Any] = {
                    "cancel_at_period_end": True,
                    "metadata": self._marker(idempotency_key),
                }
                if details:
                    params["cancellation_details"] = details
                self._update(subscription_id, params, f"{idempotency_key}:update")
                current = self._subscription_raw(subscription_id)
        canceled = current.get("status") == "canceled"
        if not canceled and not current.get("cancel_at_period_end"):
            raise StripeGatewayError("stripe_error", "Stripe did not record the cancellation.")
        return {
            "canceled_at": utc_iso(current.get("canceled_at") or current.get("cancel_at")),
            "cancel_at_period_end": bool(current.get("cancel_at_period_end")),
        }
