from __future__ import annotations

from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "experiments"
    verbose_name = "Experiments"

    def ready(self) -> None:
        from mrrx.recent import forget_on_change

        from .models import Arm, Experiment
        from .selectors import RECENT_RUNNING

        # Started, stopped or changed here: this process's next session sees it.
        forget_on_change(RECENT_RUNNING, Experiment, Arm, uid="experiments")
