"""What counts as the person in a JSON value or a text, and what stays."""

from __future__ import annotations

from privacy.redaction import ERASED, Needles, erased, names_customer, redacted, texts_in


def test_erased_keeps_keys_lengths_empties_and_flags():
    value = {"a": "x", "b": [1, "y", None], "c": {"d": ""}, "e": True, "f": 0}

    assert erased(value) == {
        "a": ERASED,
        "b": [ERASED, ERASED, None],
        "c": {"d": ""},
        "e": True,
        "f": ERASED,
    }
    assert erased(erased(value)) == erased(value)


def test_personal_keys_go_at_any_depth_and_figures_stay():
    payload = {
        "data": {
            "customer_id": "cus_1",
            "action": "cancel",
            "survey_response": {"reason": "other", "reason_other": "mine", "feedback": "words"},
            "metadata": {"user_id": "usr_1"},
            "outcome": {"details": {"amount": 2900, "currency": "usd"}},
        }
    }

    assert redacted(payload, Needles([])) == {
        "data": {
            "customer_id": "cus_1",
            "action": "cancel",
            "survey_response": {"reason": "other", "reason_other": ERASED, "feedback": ERASED},
            "metadata": {"user_id": ERASED},
            "outcome": {"details": {"amount": 2900, "currency": "usd"}},
        }
    }


def test_a_stripe_customers_name_goes_and_a_products_stays():
    customer = {"object": "customer", "id": "cus_1", "name": "Erin Q", "description": "VIP"}
    product = {"object": "product", "id": "prod_1", "name": "Pro Plan"}

    assert redacted({"c": customer, "p": product}, Needles([])) == {
        "c": {"object": "customer", "id": "cus_1", "name": ERASED, "description": ERASED},
        "p": product,
    }
    assert sorted(texts_in(customer)) == ["Erin Q", "VIP"]
    assert list(texts_in(product)) == []


def test_found_texts_are_replaced_in_free_text_whatever_their_case():
    needles = Needles(["erin@example.com", "Cut our budget", "ok", ERASED])

    scrubbed = needles.scrub("550 ERIN@example.com refused: cut our budget; ok")

    assert scrubbed == f"550 {ERASED} refused: {ERASED}; ok"
    assert Needles([]).scrub("anything") == "anything"


def test_metadata_values_are_not_searched_for_in_other_text():
    assert list(texts_in({"metadata": {"plan": "enterprise"}, "email": "e@x.io"})) == ["e@x.io"]


def test_names_customer_matches_whole_values_only():
    assert names_customer({"data": {"object": {"customer": "cus_1"}}}, "cus_1")
    assert not names_customer({"data": {"object": {"customer": "cus_10"}}}, "cus_1")
    assert not names_customer({"note": "about cus_1"}, "cus_1")
