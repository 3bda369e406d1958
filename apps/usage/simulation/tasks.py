"""The simulation task: loads by id and calls the service (registered through apps.usage.tasks)."""

from __future__ import annotations

from celery import shared_task

SIMULATE = "usage.simulate"


@shared_task(name=SIMULATE)
def simulate_task(simulation_id: int) -> dict:
    from .services import simulation_run

    simulation = simulation_run(simulation_id=simulation_id)
    return {"simulation_id": simulation.pk, "state": simulation.state, "error": simulation.error}
