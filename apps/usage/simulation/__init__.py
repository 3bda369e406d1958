"""Trying a price change safely: exact simulation ("shadow rating") of a draft or pending rate-table version.

- models.py    - Simulation (inputs, state, progress) and SimulationLine (per customer x meter: now vs simulated);
- shadow.py    - the shadow run: the real re-rating service inside a transaction that is always rolled back;
- services.py  - create and run simulations (state, progress, results, bill shock);
- selectors.py - the latest simulation of a version's content, its figures, CSV rows, freshness;
- charts.py    - the winners/losers figure;
- tasks.py, views.py, urls.py - the Celery task, the panel (htmx) and the CSV.

Kept import-free here: models.py is imported while Django loads apps.usage.models.
"""
