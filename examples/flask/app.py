"""A minimal Flask app that integrates MRRX: the cancel button, the return from the hosted
flow, and the webhook receiver (see README.md). ``flask --app app run``."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, g, redirect, render_template, request, url_for
from mrrx_client import (
    InvalidTokenError,
    Mrrx,
    MrrxError,
    SessionAlreadyExistsError,
    ValidationError,
    WebhookVerificationError,
    verify_webhook,
)
from mrrx_client.types import VerifiedResult
from werkzeug.wrappers import Response

SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_events (
    event_id TEXT PRIMARY KEY,  -- deliveries are retried: one row per event
    type TEXT NOT NULL,
    session_id TEXT,
    payload TEXT NOT NULL,
    received_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
)
"""


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        MRRX_BASE_URL=os.environ.get("MRRX_BASE_URL", "http://localhost:8000"),
        MRRX_API_KEY=os.environ.get("MRRX_API_KEY", ""),
        # The secret of the webhook endpoint pointing at /webhooks/mrrx (shown once).
        MRRX_WEBHOOK_SECRET=os.environ.get("MRRX_WEBHOOK_SECRET", ""),
        # The signed-in subscriber's Stripe ids: a real app reads them from its user.
        DEMO_CUSTOMER_ID=os.environ.get("DEMO_CUSTOMER_ID", ""),
        DEMO_SUBSCRIPTION_ID=os.environ.get("DEMO_SUBSCRIPTION_ID", ""),
        DATABASE=os.environ.get("SHOP_DATABASE", os.path.join(app.instance_path, "shop.db")),
    )
    app.config.update(config or {})
    os.makedirs(os.path.dirname(app.config["DATABASE"]) or ".", exist_ok=True)
    with sqlite3.connect(app.config["DATABASE"]) as db:
        db.execute(SCHEMA)
    # One client per app: it keeps its connections open between requests.
    app.extensions["mrrx"] = Mrrx(
        app.config["MRRX_API_KEY"], base_url=app.config["MRRX_BASE_URL"], timeout=10
    )

    @app.teardown_appcontext
    def close_db(exc: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.close()

    app.add_url_rule("/", view_func=account)
    app.add_url_rule("/cancel", view_func=cancel, methods=["POST"])
    app.add_url_rule("/return", view_func=cancel_return, methods=["GET", "POST"])
    app.add_url_rule("/webhooks/mrrx", view_func=mrrx_webhook, methods=["POST"])
    return app


def mrrx() -> Mrrx:
    client: Mrrx = current_app.extensions["mrrx"]
    return client


def database() -> sqlite3.Connection:
    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"])
    db: sqlite3.Connection = g.db
    return db


def account() -> str:
    return render_template("account.html")


def cancel() -> Response | tuple[str, int]:
    """The cancel button: a session for the signed-in subscriber, then off to MRRX's page.
    In your app this sits behind your login and CSRF protection (Flask-WTF, say); the
    return URL must be on the workspace's allowlist."""
    config = current_app.config
    try:
        session = mrrx().create_session(
            customer_id=config["DEMO_CUSTOMER_ID"],
            subscription_id=config["DEMO_SUBSCRIPTION_ID"] or None,
            return_url=url_for("cancel_return", _external=True),
            metadata={"started_from": "account page"},
        )
    except SessionAlreadyExistsError:
        message = "A cancellation is already open for your subscription. Try again later."
        return render_template("account.html", message=message), 409
    except MrrxError as error:
        # str(error) names MRRX's request id, which its logs carry.
        current_app.logger.warning("Could not start the cancel flow: %s", error)
        message = "We could not start the cancellation. Please try again."
        return render_template("account.html", message=message), 502
    return redirect(session["url"], code=303)


def cancel_return() -> str | tuple[str, int]:
    """Back from the hosted flow. The signed result is in the URL's fragment
    (``#result_token=...``), which browsers keep to themselves: the GET page posts it
    here, and only what MRRX verifies is shown."""
    if request.method == "GET":
        return render_template("return.html")
    try:
        result = mrrx().verify_result(request.form.get("result_token", ""))
    except (InvalidTokenError, ValidationError):  # forged, tampered, expired or missing
        return render_template("outcome.html", error="This result could not be verified."), 400
    except MrrxError as error:
        current_app.logger.warning("Could not verify a result: %s", error)
        error_text = "We could not check the result just now. Please reload."
        return render_template("outcome.html", error=error_text), 502
    if result["customer_id"] != current_app.config["DEMO_CUSTOMER_ID"]:
        # A genuine result, but for someone else's session.
        return render_template("outcome.html", error="This result is not for you."), 403
    return render_template("outcome.html", result=result, text=describe(result))


def mrrx_webhook() -> tuple[dict[str, Any], int]:
    try:
        event = verify_webhook(
            request.get_data(), request.headers, current_app.config["MRRX_WEBHOOK_SECRET"]
        )
    except WebhookVerificationError as error:
        current_app.logger.warning("Refused an MRRX webhook: %s", error)
        return {"error": "invalid signature"}, 400
    with database() as db:
        db.execute(
            "INSERT OR IGNORE INTO webhook_events (event_id, type, session_id, payload)"
            " VALUES (?, ?, ?, ?)",
            (event["id"], event["type"], event["data"].get("session_id"), json.dumps(event)),
        )
    # Answer quickly; do slow work (emails, provisioning) in your own background jobs.
    return {"received": True}, 200


def describe(result: VerifiedResult) -> str:
    """What happened, for the subscriber, from the verified result."""
    outcome = result["outcome"]
    if result["status"] != "completed" or outcome is None:
        return f"Nothing has changed on your subscription (the session is {result['status']})."
    details = outcome["details"]
    return {
        "pause": f"Your subscription is paused for {details.get('pause_duration_days')} days.",
        "discount": "Your discount is applied to your next invoices.",
        "downgrade": "You are now on the cheaper plan.",
        "extend_trial": "Your trial is extended.",
        "cancel": "Your subscription is canceled.",
    }.get(outcome["action"], f"Done: {outcome['action']}.")
