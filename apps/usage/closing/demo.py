"""Demo: finance ("finance", Farah) has closed last month, so the period pages show a real closed period with
frozen statements, a content hash and exports. Idempotent: nothing happens once any month has been closed."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.core.actors import Actor

from .models import ClosedPeriod
from .services import period_close
from .statements import month_label, previous_month

DEMO_CLOSER = "finance"


def seed(*, stdout, size: str = "small") -> None:
    if ClosedPeriod.objects.exists():
        stdout.write("  periods: a month is already closed; skipped.\n")
        return
    user = get_user_model().objects.filter(username=DEMO_CLOSER).first()
    if user is None:
        stdout.write("  periods: no finance demo user; skipped.\n")
        return
    month = previous_month(timezone.now().date().replace(day=1))
    period = period_close(month=month, actor=Actor(user=user))
    stdout.write(
        f"  periods: {month_label(month)} closed by {user.username} "
        f"({period.statements_count} statements, hash {period.content_hash[:12]}).\n"
    )
