"""Demo: every price change waiting for approval has been simulated by the owner who submitted it, so finance's
review page shows a real simulation (totals, bill shock, winners and losers) on the demo usage. Idempotent: a
version that already has a simulation is left alone."""

from __future__ import annotations

from apps.catalog.selectors import review_queue
from apps.core.actors import Actor

from .models import Simulation
from .services import simulation_create, simulation_run


def seed(*, stdout, size: str = "small") -> None:
    for version in review_queue():
        if Simulation.objects.filter(version_id=version.pk).exists():
            continue
        if version.submitted_by is None:
            continue
        simulation = simulation_create(version_id=version.pk, actor=Actor(user=version.submitted_by))
        simulation = simulation_run(simulation_id=simulation.pk)
        stdout.write(
            f"  simulation: {version.rate_table.code} v{version.number} from {simulation.range_start:%Y-%m-%d} to {simulation.range_end:%Y-%m-%d}: "
            f"{simulation.get_state_display().lower()}.\n"
        )
