"""Customer-page panels. Each app registers its own in AppConfig.ready(); the customer page lazy-loads them
(hx-get, hx-trigger="load") from the registering app's own URL, so contracts imports none of those apps."""

from __future__ import annotations

from dataclasses import dataclass

from apps.core.roles import Cap


@dataclass(frozen=True)
class CustomerPanel:
    key: str
    title: str
    url_name: str  # reversed with kwargs={"external_id": ...}
    caps: tuple[Cap, ...]
    order: int = 100
    wide: bool = False


_PANELS: list[CustomerPanel] = []


def register_customer_panel(panel: CustomerPanel) -> None:
    if all(p.key != panel.key for p in _PANELS):
        _PANELS.append(panel)


def customer_panels() -> list[CustomerPanel]:
    return sorted(_PANELS, key=lambda p: p.order)
