"""Forms of the merchant dashboard's own pages: the analytics filters."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from .analytics import SOURCES, Period

MAX_RANGE_DAYS = 366


class AnalyticsFilterForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    mode = forms.ChoiceField(choices=[("live", "Live mode"), ("test", "Test mode")], required=False)
    source = forms.ChoiceField(choices=list(SOURCES.items()), required=False)

    @staticmethod
    def default_period() -> Period:
        end = timezone.now().date()
        return Period(start=end - timedelta(days=settings.ANALYTICS_DEFAULT_DAYS - 1), end=end)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        default = self.default_period()
        end: date = cleaned.get("end") or default.end
        start: date = cleaned.get("start") or end - (default.end - default.start)
        if start > end:
            raise ValidationError("The start date must not be after the end date.")
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            raise ValidationError(f"Choose a range of at most {MAX_RANGE_DAYS} days.")
        cleaned["period"] = Period(start=start, end=end)
        return cleaned
