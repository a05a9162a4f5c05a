"""The feed server: an ASGI app (Starlette) serving ``GET /feeds/{token}.ics``.

Mount :func:`create_app` in another product or run it with ``iopcore serve``. Needs the
``feeds`` extra (``pip install iopcore[feeds]``). No participant data in URLs (the token is
opaque), in logs (uvicorn's access log is off; the store audits token ids) or in headers.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from iopcore.clinic.feeds import FeedCache, feed_calendar, resolve_feed_token
from iopcore.io.storage import Store
from iopcore.plugins import PluginHost, default_host

_NOT_FOUND = b"Not Found"
#: DTSTAMP of every feed: fixed, so an unchanged calendar is byte-identical (same ETag).
_STAMP = datetime(2000, 1, 1, tzinfo=UTC)


def _not_found() -> Response:
    return Response(_NOT_FOUND, status_code=404, media_type="text/plain")


def create_app(store: Callable[[], Store] | Store, *, host: PluginHost | None = None) -> Starlette:
    """The feed app over a store, or a factory that opens one (on the first request; it is
    closed when the app shuts down).

    Requests are handled one at a time on the event loop's thread (a store's connection,
    SQLite's included, stays on one thread); run more workers for more throughput.
    """
    plugins = host or default_host()
    cache = FeedCache()
    # Last-Modified per content (ETag), remembered while the server runs
    first_seen: dict[str, datetime] = {}
    opened: list[Store] = []

    def current() -> Store:
        if not callable(store):
            return store
        if not opened:
            opened.append(store())
        return opened[0]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        for s in opened:
            s.close()

    async def serve(request: Request) -> Response:
        s = current()
        token = request.path_params["token"]
        record = resolve_feed_token(s, token, cache=cache)
        if record is None:
            return _not_found()
        data = feed_calendar(s, record, host=plugins, cache=cache, now=_STAMP)
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        modified = first_seen.setdefault(etag, datetime.now(UTC).replace(microsecond=0))
        headers = {
            "ETag": etag,
            "Last-Modified": format_datetime(modified, usegmt=True),
            "Cache-Control": "private, max-age=0, must-revalidate",
            "Vary": "Accept-Encoding",
        }
        match = request.headers.get("if-none-match")
        since = request.headers.get("if-modified-since")
        if match is not None:
            if etag in [m.strip() for m in match.split(",")] or match.strip() == "*":
                return Response(status_code=304, headers=headers)
        elif since is not None:
            try:
                if parsedate_to_datetime(since) >= modified:
                    return Response(status_code=304, headers=headers)
            except (TypeError, ValueError):
                pass
        if "gzip" in request.headers.get("accept-encoding", ""):
            data = gzip.compress(data, mtime=0)
            headers["Content-Encoding"] = "gzip"
        return Response(data, headers=headers, media_type="text/calendar; charset=utf-8")

    routes = [Route("/feeds/{token}.ics", serve, methods=["GET", "HEAD"])]
    return Starlette(routes=routes, lifespan=lifespan)
