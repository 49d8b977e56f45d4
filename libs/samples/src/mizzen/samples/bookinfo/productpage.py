"""Bookinfo's productpage: the page a user opens, made from the details and reviews services.

``python -m mizzen.samples.bookinfo.productpage [--port 19080]``

- ``GET /productpage``: the HTML page. Who is signed in comes from ``?u=<name>`` (which also
  sets the cookie) or the ``user`` cookie; that name is sent as ``end-user`` on the calls to
  details and reviews (and reviews passes it on to ratings), so routing rules can match it.
- ``POST /login`` (form field ``username``) sets the cookie; ``GET /logout`` clears it; both
  redirect to ``/productpage``.
- ``GET /api/v1/products``, ``/api/v1/products/<id>``, ``/api/v1/products/<id>/reviews``,
  ``/api/v1/products/<id>/ratings``: the JSON behind the page.
- ``GET /static/bookinfo.css``, ``GET /`` (an index), ``GET /health``.

Like Bookinfo, productpage gives details one try of 3 s and reviews two tries of 3 s each,
and shows an error box for a service that failed instead of failing the page. That retry is
why Istio's request-timeouts task sees about twice the route's timeout. Environment:
``DETAILS_URL``, ``REVIEWS_URL``, ``RATINGS_URL`` (default ``http://<name>:9080``),
``REVIEWS_TIMEOUT`` (seconds per try, default 3).
"""

from __future__ import annotations

import os
import re
import urllib.parse
from http.cookies import CookieError, SimpleCookie
from importlib import resources
from typing import Any, ClassVar

from mizzen.samples.bookinfo.catalog import PRODUCTS, product
from mizzen.samples.bookinfo.page import (
    DETAILS_UNAVAILABLE,
    REVIEWS_UNAVAILABLE,
    render_index,
    render_product_page,
)
from mizzen.samples.bookinfo.web import AppHandler, UpstreamError, call, parse_listen_args, serve

__all__ = ["REVIEWS_ATTEMPTS", "ProductPageHandler", "main"]

USER_COOKIE = "user"
REVIEWS_ATTEMPTS = 2
"""How many times productpage asks reviews before showing the error box (Bookinfo's)."""
_USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_PRODUCT_API = re.compile(r"^/api/v1/products/(\d+)(?:/(reviews|ratings))?$")
_FORM_LIMIT = 4096


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


class ProductPageHandler(AppHandler):
    """Serves the page and its API; reads the upstream URLs and timeouts from class
    attributes (set from the environment by :func:`main`). Stateless between requests."""

    app_name = "productpage"
    details_url: ClassVar[str] = "http://details:9080"
    reviews_url: ClassVar[str] = "http://reviews:9080"
    ratings_url: ClassVar[str] = "http://ratings:9080"
    details_timeout: ClassVar[float] = 3.0
    reviews_timeout: ClassVar[float] = 3.0
    ratings_timeout: ClassVar[float] = 3.0

    # ---- who is signed in ---------------------------------------------------------------

    def _user_from_query(self) -> str | None:
        name = self.query().get("u")
        return name if name and _USER_NAME.match(name) else None

    def current_user(self) -> str | None:
        """The signed-in user: ``?u=`` first, then the ``user`` cookie; ``None`` if neither
        holds a plausible name."""
        name = self._user_from_query()
        if name:
            return name
        cookie = SimpleCookie()
        try:
            cookie.load(self.headers.get("Cookie", ""))
        except CookieError:
            return None
        morsel = cookie.get(USER_COOKIE)
        if morsel is not None and _USER_NAME.match(morsel.value):
            return morsel.value
        return None

    def upstream_headers(self, user: str | None) -> dict[str, str]:
        """The headers for calls made on behalf of this request: its trace headers, and
        ``end-user`` set to the signed-in user (never taken from the incoming request)."""
        headers = self.forwarded_headers()
        headers.pop("end-user", None)
        if user:
            headers["end-user"] = user
        return headers

    # ---- upstream calls ------------------------------------------------------------------

    def _get(self, url: str, headers: dict[str, str], timeout: float,
             attempts: int = 1) -> tuple[int, Any]:  # fmt: skip
        """``(status, document)`` of the first 200 in ``attempts`` tries, else the last
        status (500 without one) and ``None``."""
        status = 500
        for _ in range(attempts):
            try:
                reply = call(url, headers=headers, timeout=timeout)
            except UpstreamError:
                continue
            status = reply.status
            if status == 200:
                try:
                    return status, reply.json()
                except ValueError:
                    status = 500
        return status, None

    def details(self, product_id: int, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The details service's document, or ``{"error": ...}``."""
        status, document = self._get(f"{self.details_url}/details/{product_id}", headers,
                                     self.details_timeout)  # fmt: skip
        return (status, document) if document else (status, {"error": DETAILS_UNAVAILABLE})

    def reviews(self, product_id: int, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The reviews service's document (two tries), or ``{"error": ...}``."""
        status, document = self._get(f"{self.reviews_url}/reviews/{product_id}", headers,
                                     self.reviews_timeout, REVIEWS_ATTEMPTS)  # fmt: skip
        return (status, document) if document else (status, {"error": REVIEWS_UNAVAILABLE})

    def ratings(self, product_id: int, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The ratings service's document, or ``{"error": ...}``."""
        status, document = self._get(f"{self.ratings_url}/ratings/{product_id}", headers,
                                     self.ratings_timeout)  # fmt: skip
        message = "Sorry, product ratings are currently unavailable for this book."
        return (status, document) if document else (status, {"error": message})

    # ---- routes --------------------------------------------------------------------------

    def do_GET(self) -> None:
        """See the module docstring."""
        path = self.request_path()
        if path == "/productpage":
            self._product_page()
        elif path == "/":
            self.send_html(200, render_index())
        elif path == "/health":
            self.send_json(200, {"status": "Product page is healthy"})
        elif path == "/logout":
            self.send_redirect(
                "/productpage", [("Set-Cookie", f"{USER_COOKIE}=; Path=/; Max-Age=0; SameSite=Lax")]
            )
        elif path == "/login":
            self.send_redirect("/productpage")
        elif path.startswith("/static/"):
            self._static(path.removeprefix("/static/"))
        elif path == "/api/v1/products":
            self.send_json(200, list(PRODUCTS))
        else:
            self._product_api(path)

    def do_POST(self) -> None:
        """``/login`` with a form field ``username``; anything else is 404."""
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(min(length, _FORM_LIMIT)).decode())
        if self.request_path() != "/login":
            self.not_found()
            return
        name = (form.get("username") or [""])[0].strip()
        if not _USER_NAME.match(name):
            self.send_redirect("/productpage")
            return
        self.send_redirect("/productpage", [("Set-Cookie", self._cookie(name))])

    def _cookie(self, name: str) -> str:
        return f"{USER_COOKIE}={name}; Path=/; SameSite=Lax"

    def _product_page(self) -> None:
        user = self.current_user()
        headers = self.upstream_headers(user)
        product_id = 0
        _, details = self.details(product_id, headers)
        _, reviews = self.reviews(product_id, headers)
        page = render_product_page(product(product_id), user=user, details=details,
                                   reviews=reviews)  # fmt: skip
        extra = [("Set-Cookie", self._cookie(user))] if user and self._user_from_query() else []
        self.send_html(200, page, extra)

    def _product_api(self, path: str) -> None:
        found = _PRODUCT_API.match(path)
        if found is None:
            self.not_found()
            return
        product_id, what = int(found.group(1)), found.group(2)
        headers = self.upstream_headers(self.current_user())
        fetch = {None: self.details, "reviews": self.reviews, "ratings": self.ratings}[what]
        status, document = fetch(product_id, headers)
        self.send_json(status, document)

    def _static(self, name: str) -> None:
        if "/" in name or name.startswith("."):
            self.not_found()
            return
        resource = resources.files("mizzen.samples.bookinfo").joinpath("static", name)
        try:
            data = resource.read_bytes()
        except OSError:
            self.not_found()
            return
        kind = "text/css" if name.endswith(".css") else "application/octet-stream"
        self.send_body(200, data, kind, [("Cache-Control", "max-age=300")])


def main(argv: list[str] | None = None) -> None:
    """Run productpage until SIGTERM."""
    args = parse_listen_args("Bookinfo's product page.", argv)
    handler = type(
        "ConfiguredProductPageHandler",
        (ProductPageHandler,),
        {
            "details_url": os.environ.get("DETAILS_URL", ProductPageHandler.details_url),
            "reviews_url": os.environ.get("REVIEWS_URL", ProductPageHandler.reviews_url),
            "ratings_url": os.environ.get("RATINGS_URL", ProductPageHandler.ratings_url),
            "reviews_timeout": _env_float("REVIEWS_TIMEOUT", ProductPageHandler.reviews_timeout),
        },
    )
    serve(handler, args.host, args.port)


if __name__ == "__main__":
    main()
