"""Navigation entries; each app registers its own in its AppConfig.ready() so core imports no app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .roles import Cap


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    caps: tuple[Cap, ...]
    order: int = 100
    badge: Callable | None = field(default=None, compare=False)  # badge(user) -> int
    section: str = ""


_REGISTRY: list[NavItem] = []


def register(item: NavItem) -> None:
    if item not in _REGISTRY:
        _REGISTRY.append(item)


def items() -> list[NavItem]:
    return sorted(_REGISTRY, key=lambda i: i.order)


@dataclass(frozen=True)
class Panel:
    """A landing-page panel: an htmx fragment served by its own app, lazy-loaded on the home page."""

    title: str
    url_name: str
    caps: tuple[Cap, ...]
    order: int = 100
    wide: bool = False


_PANELS: list[Panel] = []


def register_panel(panel: Panel) -> None:
    if panel not in _PANELS:
        _PANELS.append(panel)


def panels() -> list[Panel]:
    return sorted(_PANELS, key=lambda p: p.order)
