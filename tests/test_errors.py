from __future__ import annotations

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api_test_urls"), pytest.mark.smoke]


def _error(response):  # type: ignore[no-untyped-def]
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/v1/nothing-here", "/api/unknown"])
def test_unknown_path_is_404_in_the_envelope(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert _error(response)["code"] == "not_found"


def test_wrong_method_is_405_in_the_envelope(client):
    response = client.delete("/api/v1/health")
    assert response.status_code == 405
    assert _error(response)["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]


def test_non_json_body_is_415(api):
    response = api.client.post("/api/v1/things", "name=x", content_type="text/plain")
    assert response.status_code == 415
    assert _error(response)["code"] == "invalid_request"


def test_form_body_is_415(api):
    response = api.client.post("/api/v1/things", {"name": "x"}, format="multipart")
    assert response.status_code == 415


def test_malformed_json_is_invalid_request(api):
    response = api.client.post("/api/v1/things", '{"name": ', content_type="application/json")
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid_request"


def test_validation_error_names_each_bad_field(api):
    response = api.post("/api/v1/things", {"name": "x" * 41, "sleep_ms": "soon"})
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "validation_error"
    assert set(error["details"]) == {"name", "sleep_ms"}


def test_unhandled_exception_is_500_without_internals(api):
    response = api.get("/api/v1/explode")
    assert response.status_code == 500
    error = _error(response)
    assert error["code"] == "internal_error"
    text = response.content.decode()
    assert "Traceback" not in text and "secret internal detail" not in text
    assert "RuntimeError" not in text


def test_django_404_handler_answers_api_paths_in_the_envelope(rf):
    from mrrx.api.errors import handler404, handler500

    response = handler404(rf.get("/api/v1/x"), Exception("no"))
    assert response.status_code == 404
    assert b'"not_found"' in response.content
    response = handler500(rf.get("/v1/x"))
    assert response.status_code == 500 and b'"internal_error"' in response.content
    # Outside the API, Django's own pages stay.
    assert b"error" not in handler404(rf.get("/c/x"), Exception("no")).content[:10]
