"""Health probes, the JSON 404 for unknown API paths, the landing page and the server-error
page."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.csrf import csrf_exempt

from kassa.core.errors import ResourceMissing
from kassa.platform import dbinfo

_migrated = False


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database answers and every migration is applied."""
    global _migrated
    try:
        dbinfo.ping()
        if not _migrated:
            executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
            if pending:
                return JsonResponse(
                    {"status": "unavailable", "reason": f"{len(pending)} migrations pending"},
                    status=503,
                )
            _migrated = True
    except DatabaseError as exc:
        return JsonResponse({"status": "unavailable", "reason": str(exc)[:200]}, status=503)
    return JsonResponse({"status": "ok"})


@csrf_exempt
def api_not_found(request: HttpRequest) -> JsonResponse:
    error = ResourceMissing(f"Unrecognized request URL ({request.method}: {request.path}).")
    return JsonResponse({"error": error.as_dict()}, status=404)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "core/home.html")


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the admin's own error page under /admin/, the public one elsewhere.

    Rendered without the request's context processors or the database, which may be what
    failed; the language is the one the request had when it failed."""
    name = "admin/kassa/500.html" if request.path.startswith("/admin/") else "500.html"
    return HttpResponseServerError(loader.get_template(name).render())
