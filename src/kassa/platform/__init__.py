"""Kassa's platform layer: everything that depends on the internals of Django, psycopg,
uvicorn or django-tasks-db, so that an upgrade of one of them touches this package only.

- the database: `db.postgresql` (Django's PostgreSQL backend with deferred writes), `pgwire`
  (statements through libpq in one pipeline), `fastdb` (single-row statements without
  querysets), `fastpath` (the `KASSA_DB_FASTPATH` switch), `dbinfo`, `listen`;
- the web server: `webserver` (uvicorn), `wsgi_bridge` (Django's WSGI handler on a bounded
  thread pool behind the ASGI server);
- processes: `worker`, `scheduler`, `periodic`, `task_backend`; `console_email` (Django's
  email backend for the terminal, decoded);
- `hotcache` (in-process caches cleared across processes by NOTIFY), `http_client` (the small
  HTTP/1.1 client of outbound webhooks) and `netguard` (the SSRF address rule).

It imports no Kassa domain app (import-linter enforces it); domain apps reach the database's
fast path only through their repositories. `docs/upgrading.md` lists every private API used here.
"""
