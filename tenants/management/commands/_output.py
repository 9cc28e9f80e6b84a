from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand


def emit(command: BaseCommand, as_json: bool, data: dict[str, Any], lines: list[str]) -> None:
    """Print ``data`` as JSON for scripts, or ``lines`` for people."""
    if as_json:
        command.stdout.write(json.dumps(data, indent=2))
    else:
        for line in lines:
            command.stdout.write(line)
