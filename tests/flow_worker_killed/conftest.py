from __future__ import annotations

from tests.flow_worker.conftest import celery_worker_env  # noqa: F401
from tests.sessions.conftest import emulator, shop, stripe_emulator  # noqa: F401
from tests.worker_fixture import celery_broker  # noqa: F401
