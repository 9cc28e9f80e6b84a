"""Per-request handling time of `Emulator.handle`, in process (no HTTP).

    python -m stripe_emulator.bench [--n 2000]

Prints the median and p95 in microseconds for subscription create, retrieve (with
expansions) and update, plus customer create, measured against a store that already
holds a few hundred subscriptions.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from . import Emulator
from .params import encode_params

HEADERS = {"Authorization": "Bearer sk_test_bench"}


def _timed(fn: Callable[[int], None], n: int) -> list[float]:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - start) * 1e6)
    return samples


def _post(emu: Emulator, path: str, params: dict, key: str | None = None) -> dict:
    headers = dict(HEADERS, **({"Idempotency-Key": key} if key else {}))
    response = emu.handle("POST", path, "", encode_params(params), headers)
    assert response.status == 200, response.body
    assert isinstance(response.body, dict)
    return response.body


def run(n: int = 2000) -> dict[str, tuple[float, float]]:
    emu = Emulator()
    customer = _post(emu, "/v1/customers", {"email": "bench@example.com"})
    price = _post(
        emu,
        "/v1/prices",
        {
            "currency": "usd",
            "unit_amount": 1000,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Bench"},
        },
    )
    other = _post(
        emu,
        "/v1/prices",
        {
            "currency": "usd",
            "unit_amount": 2000,
            "recurring": {"interval": "month"},
            "product": price["product"],
        },
    )
    _post(emu, "/v1/coupons", {"id": "BENCH", "percent_off": 10})
    create_params = {"customer": customer["id"], "items": [{"price": price["id"]}]}
    sub = _post(emu, "/v1/subscriptions", create_params)
    item_id = sub["items"]["data"][0]["id"]
    for _ in range(300):  # a realistic store, not an empty one
        _post(emu, "/v1/subscriptions", create_params)

    retrieve_query = encode_params({"expand": ["customer", "items.data.price.product"]})
    prices = [price["id"], other["id"]]
    updates = [
        {"metadata": {"n": "1"}, "pause_collection": {"behavior": "void"}},
        {"pause_collection": "", "discounts": [{"coupon": "BENCH"}]},
        {"items": [{"id": item_id, "price": prices[1]}], "proration_behavior": "none"},
        {"items": [{"id": item_id, "price": prices[0]}], "discounts": ""},
    ]

    def create(i: int) -> None:
        _post(emu, "/v1/subscriptions", create_params, key=f"create-{i}")

    def retrieve(i: int) -> None:
        response = emu.handle("GET", f"/v1/subscriptions/{sub['id']}", retrieve_query, b"", HEADERS)
        assert response.status == 200

    def update(i: int) -> None:
        _post(emu, f"/v1/subscriptions/{sub['id']}", updates[i % len(updates)], key=f"upd-{i}")

    def customer_create(i: int) -> None:
        _post(emu, "/v1/customers", {"email": f"c{i}@example.com"}, key=f"cus-{i}")

    results = {}
    for name, fn in (
        ("subscription create", create),
        ("subscription retrieve (expand customer, product)", retrieve),
        ("subscription update (pause/discount/price swap)", update),
        ("customer create", customer_create),
    ):
        samples = sorted(_timed(fn, n))
        results[name] = (statistics.median(samples), samples[int(len(samples) * 0.95)])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="requests per operation")
    args = parser.parse_args()
    for name, (median, p95) in run(args.n).items():
        print(f"{name:52s} median {median:7.1f} µs   p95 {p95:7.1f} µs")


if __name__ == "__main__":
    main()
