"""Bad input never becomes a 500.

- Any query-string or form parameter (name or value) carrying a NUL character is refused with 400 before a view
  runs: no view, filter or search has to handle it.
- A DomainError that escapes a page view (e.g. a bad parameter from apps.core.params) is answered with its status
  and message: the JSON error shape under /api/, the error page elsewhere.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.shortcuts import render

from .errors import DomainError
from .params import unstorable


def is_api(request) -> bool:
    return request.path.startswith("/api/")


def error_response(request, *, message: str, code: str, status: int, extra: dict | None = None):
    if is_api(request):
        return JsonResponse({"message": message, "code": code, "extra": extra or {}}, status=status)
    return render(request, "400.html", {"message": message, "status": status}, status=status)


class BadInputMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sources = [request.GET]
        if request.method == "POST" and not is_api(request):
            sources.append(request.POST)
        for params in sources:
            for key, values in params.lists():
                if unstorable(key) or any(unstorable(v) for v in values):
                    return error_response(
                        request,
                        message=f'The parameter "{_shown(key)}" contains a character that is not allowed (NUL).',
                        code="invalid_parameter",
                        status=400,
                        extra={"parameter": _shown(key)},
                    )
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DomainError):
            return error_response(
                request,
                message=exception.message,
                code=exception.code,
                status=exception.http_status,
                extra=exception.extra,
            )
        return None


def _shown(key: str) -> str:
    return key.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode()
