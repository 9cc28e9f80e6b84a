"""What a process read lately and may use again for a moment: the rows nearly every API
request needs and that change rarely (an API key with its workspace, the workspace's
Stripe connection, its segment flows, its running experiment).

Each is reused for ``settings.API_KEY_CACHE_SECONDS`` (``0`` reads every time). A change
made in the process is seen by it at once: the models' saves and deletes clear what was
kept (``forget_on_change``); other processes see it within those seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from django.conf import settings

V = TypeVar("V")


class RecentReads(Generic[V]):
    """Values by key, each with the time it was read; at most ``max_entries`` kept."""

    def __init__(self, *, max_entries: int = 1000, keep_none: bool = True) -> None:
        self._kept: dict[Hashable, tuple[float, V]] = {}
        self._max_entries = max_entries
        # False where "nothing found" must be looked for again at once (an API key issued
        # in another process a moment ago).
        self._keep_none = keep_none

    def get(self, key: Hashable, read: Callable[[], V]) -> V:
        """The value read for ``key`` less than the reuse time ago, else ``read()``'s."""
        ttl = settings.API_KEY_CACHE_SECONDS
        if ttl <= 0:
            return read()
        kept = self._kept.get(key)
        if kept is not None and time.monotonic() - kept[0] < ttl:
            return kept[1]
        value = read()
        if value is not None or self._keep_none:
            if len(self._kept) >= self._max_entries:
                self._kept.clear()
            self._kept[key] = (time.monotonic(), value)
        return value

    def forget(self, **kwargs: object) -> None:
        """Forget everything kept (also a signal receiver, hence the kwargs)."""
        self._kept.clear()


def forget_on_change(reads: RecentReads, *models: type, uid: str) -> None:  # type: ignore[type-arg]
    """Clear ``reads`` whenever a row of one of ``models`` is saved or deleted here."""
    from django.db.models.signals import post_delete, post_save

    for model in models:
        name = f"{uid}-{model._meta.label_lower}"
        post_save.connect(reads.forget, sender=model, dispatch_uid=f"{name}-save", weak=False)
        post_delete.connect(reads.forget, sender=model, dispatch_uid=f"{name}-delete", weak=False)
