"""Serializer pieces every endpoint shares."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so that a misspelt field is an error rather than
    silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {key: ["is not a known field"] for key in sorted(unknown)}
                )
        return super().to_internal_value(data)


class PaginationSerializer(serializers.Serializer):
    """The ``pagination`` object of every list answer."""

    has_more = serializers.BooleanField()
    next_cursor = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "Pagination"
