"""The transport-free core: form decoding, parameter specs and `Emulator.handle`."""

from __future__ import annotations

import pytest

from stripe_emulator import API_VERSION, Emulator
from stripe_emulator.errors import StripeError
from stripe_emulator.params import CLEAR, Arr, Metadata, Obj, Str, decode_form, validate
from stripe_emulator.util import add_interval, period_containing


def test_decode_nested_brackets():
    decoded = decode_form(
        "items[0][price]=price_a&items[0][quantity]=2&items[1][id]=si_b"
        "&metadata[k]=v&metadata[gone]=&expand[]=customer&expand[]=discounts"
        "&pause_collection=&discounts[0][coupon]=OFF"
    )
    assert decoded == {
        "items": {"0": {"price": "price_a", "quantity": "2"}, "1": {"id": "si_b"}},
        "metadata": {"k": "v", "gone": ""},
        "expand": {"0": "customer", "1": "discounts"},
        "pause_collection": "",
        "discounts": {"0": {"coupon": "OFF"}},
    }


def test_specs_coerce_and_reject():
    spec = {
        "items": Arr(Obj({"price": Str()})),
        "metadata": Metadata(),
        "pause_collection": Obj({"behavior": Str()}, clearable=True),
    }
    out = validate(
        decode_form("items[0][price]=p&metadata[0]=zero&metadata[x]=&pause_collection="), spec
    )
    # Digit keys in metadata stay keys; arrays become lists; empty clears.
    assert out == {
        "items": [{"price": "p"}],
        "metadata": {"0": "zero", "x": None},
        "pause_collection": CLEAR,
    }
    with pytest.raises(StripeError) as exc:
        validate(decode_form("items[0][prise]=p"), spec)
    assert exc.value.code == "parameter_unknown"
    assert exc.value.param == "items[0][prise]"


def test_handle_in_process():
    emu = Emulator()
    headers = {"Authorization": "Bearer sk_test_x", "Idempotency-Key": "k"}
    response = emu.handle("POST", "/v1/customers", "", b"email=a%40b.c", headers)
    assert response.status == 200
    assert response.body["email"] == "a@b.c"
    assert response.headers["Stripe-Version"] == API_VERSION
    assert response.headers["Request-Id"].startswith("req_")
    replay = emu.handle("POST", "/v1/customers", "", b"email=a%40b.c", headers)
    assert replay.body == response.body
    assert replay.headers["Idempotent-Replayed"] == "true"
    status, body = emu.call("GET", f"/v1/customers/{response.body['id']}")
    assert status == 200
    assert body["id"] == response.body["id"]
    status, body = emu.call("GET", "/v1/customers/cus_nope")
    assert status == 404
    assert body["error"]["code"] == "resource_missing"


def test_billing_period_arithmetic_clamps_month_ends():
    jan31 = 1769817600  # 2026-01-31T00:00:00Z
    assert add_interval(jan31, "month", 1, 1) == 1772236800  # 2026-02-28
    assert add_interval(jan31, "month", 1, 2) == 1774915200  # 2026-03-31
    assert add_interval(jan31, "year", 1, 1) == 1801353600  # 2027-01-31
    assert add_interval(jan31, "week", 2, 1) == jan31 + 14 * 86400
    start, end = period_containing(jan31, "month", 1, 1774915200 + 5)
    assert (start, end) == (1774915200, add_interval(jan31, "month", 1, 3))


def test_state_file_round_trip(tmp_path):
    path = tmp_path / "state.json"
    first = Emulator(state_path=str(path))
    status, customer = first.call("POST", "/v1/customers", {"email": "keep@example.com"})
    assert status == 200
    first.advance(3600)
    second = Emulator(state_path=str(path))
    status, again = second.call("GET", f"/v1/customers/{customer['id']}")
    assert status == 200
    assert again["email"] == "keep@example.com"
    assert second.clock.offset == 3600
