from django.conf import settings
from django.urls import NoReverseMatch, reverse

from . import nav
from .permissions import may_see_margin, user_can, user_roles
from .roles import Cap


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False) or not hasattr(user, "groups"):
        return {"demo_mode": getattr(settings, "DEMO_MODE", False)}
    entries = []
    path = request.path
    for item in nav.items():
        if not any(user_can(user, c) for c in item.caps):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        badge = item.badge(user) if item.badge else 0
        entries.append({"label": item.label, "url": url, "badge": badge, "active": False})
    # One active entry: the longest nav URL the page is under (Margin, not Overview too, on /dashboards/margin/).
    matches = [e for e in entries if e["url"] != "/" and path.startswith(e["url"])]
    if matches:
        max(matches, key=lambda e: len(e["url"]))["active"] = True
    return {
        "nav_items": entries,
        "can": {c.value: user_can(user, c) for c in Cap},
        "may_see_margin": may_see_margin(user),  # cost and margin columns, everywhere
        "current_roles": user_roles(user),
        "demo_mode": getattr(settings, "DEMO_MODE", False),
    }
