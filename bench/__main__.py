"""Run every benchmark module in bench/ (each has a ``main()``), or the ones named."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    names = sys.argv[1:] or sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name != "__main__"
    )
    for name in names:
        print(f"== bench/{name}.py", flush=True)
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main()
