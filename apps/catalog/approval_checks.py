"""Checks a finance approver must acknowledge before approving a version, registered by higher apps.

Catalog is the lowest layer and imports none of them: usage registers "no fresh simulation of this content" at
start-up (UsageConfig.ready). The review page lists what the registered checks say; approving while any says
something needs an explicit confirmation, enforced by the view (a checkbox the form requires).
"""

from __future__ import annotations

from collections.abc import Callable

# A check takes the version's id and returns a sentence for the approver, or None when all is well.
Check = Callable[[int], str | None]
_checks: dict[str, Check] = {}


def register(name: str, check: Check) -> None:
    _checks[name] = check


def approval_warnings(*, version_id: int) -> list[str]:
    return [message for check in _checks.values() if (message := check(version_id))]
