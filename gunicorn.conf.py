"""gunicorn's settings for the web process (Procfile, Procfile.dev, deploy/systemd).

The master process never loads Django, yet it must know where prometheus-client's
multiprocess files are: the same default as ``PROMETHEUS_MULTIPROC_DIR`` in
``mrrx/settings.py``, set here so that the workers it forks inherit it too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_var_dir = Path(os.environ.get("MRRX_VAR_DIR", Path(__file__).resolve().parent / "var"))
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_var_dir / "prometheus"))


def child_exit(server: Any, worker: Any) -> None:
    # Imported only now, with the directory set: prometheus-client chooses its mode once.
    from prometheus_client import multiprocess

    # A gauge that counts live processes only must forget a worker that is gone.
    multiprocess.mark_process_dead(worker.pid)
