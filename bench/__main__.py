"""Run the benchmarks in bench/ and print one table of their figures.

    python -m bench                     every module but the soak, then the table
    python -m bench sessions webhooks   the ones named
    python -m bench soak --minutes 30   the soak (never part of the default run)

Each module has a ``main()``; its figures (``bench.report``) are printed together at the
end: each figure, its ceiling from the same run, the ratio and the target.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import time
from pathlib import Path

from . import report

# Not benchmark modules, or too long for the default run (asked for by name).
NOT_MODULES = {"__main__", "common", "profiling", "report", "settings", "urls"}
NOT_BY_DEFAULT = {"soak"}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="bench modules to run (default: all)")
    parser.add_argument(
        "--minutes", type=float, default=None, help="how long the soak runs (default 30)"
    )
    args = parser.parse_args()
    if args.minutes is not None:
        os.environ["BENCH_SOAK_MINUTES"] = str(args.minutes)
    names = args.modules or sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name not in NOT_MODULES | NOT_BY_DEFAULT
    )
    started = time.monotonic()
    environ = dict(os.environ)
    for name in names:
        print(f"== bench/{name}.py", flush=True)
        try:
            report.add_returned(importlib.import_module(f"bench.{name}").main())
        finally:
            # Each module starts from the same environment (some point DATABASE_URL at a
            # database of their own while they run).
            os.environ.clear()
            os.environ.update(environ)
            _reconnect_to_the_servers_database()
    if report.FIGURES:
        print(f"\n== figures ({', '.join(names)}; {time.monotonic() - started:.0f} s)")
        print(report.table(), flush=True)


def _reconnect_to_the_servers_database() -> None:
    """Django is set up once per process: a module that ran in a database of its own (and
    dropped it) leaves the connection naming it; name DATABASE_URL's database again."""
    from urllib.parse import urlsplit

    from django.conf import settings

    url = os.environ.get("DATABASE_URL", "")
    if not settings.configured or not url.startswith("postgres"):
        return
    from django.db import connections

    connections.close_all()
    connections["default"].settings_dict["NAME"] = urlsplit(url).path.lstrip("/")


if __name__ == "__main__":
    main()
