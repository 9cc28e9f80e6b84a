"""Stored state: one namespace per (account, mode), holding compact records per table.

Records hold only what the emulator tracks; `render.py` turns them into Stripe's full
object shapes. Everything here is plain JSON data so `--state FILE` can persist it.
"""

from __future__ import annotations

from typing import Any

TABLES = (
    "customers",
    "products",
    "prices",
    "coupons",
    "subscriptions",
    "discounts",
    "invoices",
    "events",
    "webhook_endpoints",
)


class Namespace:
    """All objects of one account in one mode (test or live); accounts never share one."""

    def __init__(self, account: str | None, livemode: bool) -> None:
        self.account = account  # None for the platform itself
        self.livemode = livemode
        self.tables: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in TABLES}
        self.item_index: dict[str, str] = {}  # si_ id -> sub_ id
        self.idempotency: dict[str, dict[str, Any]] = {}

    @staticmethod
    def key_for(account: str | None, livemode: bool) -> str:
        return f"{account or 'platform'}:{'live' if livemode else 'test'}"

    @property
    def key(self) -> str:
        return self.key_for(self.account, self.livemode)

    def table(self, name: str) -> dict[str, dict[str, Any]]:
        return self.tables[name]

    def get(self, table: str, obj_id: str) -> dict[str, Any] | None:
        obj = self.tables[table].get(obj_id)
        if obj is None or obj.get("_deleted"):
            return None
        return obj

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "livemode": self.livemode,
            "tables": self.tables,
            "item_index": self.item_index,
            "idempotency": self.idempotency,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Namespace:
        ns = cls(data.get("account"), bool(data.get("livemode")))
        for name in TABLES:
            ns.tables[name] = dict(data.get("tables", {}).get(name, {}))
        ns.item_index = dict(data.get("item_index", {}))
        ns.idempotency = dict(data.get("idempotency", {}))
        return ns
