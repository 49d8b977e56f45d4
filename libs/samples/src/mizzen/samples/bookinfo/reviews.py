"""Bookinfo's reviews service, in three versions.

``python -m mizzen.samples.bookinfo.reviews --version v1|v2|v3 [--port 19082]``

- v1 shows no ratings and never calls the ratings service;
- v2 asks ratings and shows black stars; it waits up to 10 s for ratings;
- v3 asks ratings and shows red stars; it waits up to 2.5 s for ratings.

(The two ratings timeouts are Bookinfo's: with a 7 s delay injected on ratings, v2 outlasts
productpage's patience while v3 gives up in time, which is the point of Istio's fault
injection task.) When ratings fails or is too slow, each review carries
``"rating": {"error": "Ratings service is currently unavailable"}`` instead of stars.

- ``GET /reviews/<id>``: JSON ``{"id", "podname", "version", "reviews": [{"reviewer",
  "text", "rating"?}]}`` (``podname`` is the workload, ``$MIZZEN_WORKLOAD``)
- ``GET /health``: 200

Environment: ``RATINGS_URL`` (default ``http://ratings:9080``), ``RATINGS_TIMEOUT`` (seconds,
overrides the version's).
"""

from __future__ import annotations

import argparse
import os
import socket
from dataclasses import dataclass
from typing import Any, ClassVar

from mizzen.samples.bookinfo.catalog import book_reviews
from mizzen.samples.bookinfo.web import (
    AppHandler,
    UpstreamError,
    call,
    parse_listen_args,
    serve,
)

__all__ = ["RATINGS_UNAVAILABLE", "VERSIONS", "ReviewsHandler", "ReviewsSettings", "main"]

RATINGS_UNAVAILABLE = "Ratings service is currently unavailable"


@dataclass(frozen=True, slots=True)
class ReviewsSettings:
    """How one version behaves: whether it shows ratings, in which color, and how long it
    waits for the ratings service."""

    version: str
    ratings: bool
    star_color: str
    ratings_timeout: float


VERSIONS: dict[str, ReviewsSettings] = {
    "v1": ReviewsSettings("v1", ratings=False, star_color="", ratings_timeout=0.0),
    "v2": ReviewsSettings("v2", ratings=True, star_color="black", ratings_timeout=10.0),
    "v3": ReviewsSettings("v3", ratings=True, star_color="red", ratings_timeout=2.5),
}
"""The three versions, by label value."""


class ReviewsHandler(AppHandler):
    """Serves reviews as :attr:`settings` says; a subclass per process sets them."""

    app_name = "reviews"
    settings: ClassVar[ReviewsSettings] = VERSIONS["v1"]
    ratings_url: ClassVar[str] = "http://ratings:9080"
    workload: ClassVar[str] = "reviews"

    def do_GET(self) -> None:
        """See the module docstring."""
        path = self.request_path()
        if path == "/health":
            self.send_json(200, {"status": "Reviews is healthy"})
            return
        prefix, _, raw_id = path.rpartition("/")
        if prefix != "/reviews":
            self.not_found()
            return
        if not raw_id.isdigit():
            self.send_json(400, {"error": "please provide a numeric product id"})
            return
        product_id = int(raw_id)
        reviews = book_reviews()
        if self.settings.ratings:
            self._add_ratings(product_id, reviews)
        self.send_json(200, {"id": str(product_id), "podname": self.workload,
                             "version": self.settings.version, "reviews": reviews})  # fmt: skip

    def _add_ratings(self, product_id: int, reviews: list[dict[str, Any]]) -> None:
        stars: dict[str, int] | None = None
        url = f"{self.ratings_url}/ratings/{product_id}"
        try:
            reply = call(url, headers=self.forwarded_headers(),
                         timeout=self.settings.ratings_timeout)  # fmt: skip
            if reply.status == 200:
                stars = reply.json().get("ratings")
        except (UpstreamError, ValueError, AttributeError):
            stars = None
        for review in reviews:
            count = stars.get(review["reviewer"]) if isinstance(stars, dict) else None
            if isinstance(count, int):
                review["rating"] = {"stars": count, "color": self.settings.star_color}
            else:
                review["rating"] = {"error": RATINGS_UNAVAILABLE}


def main(argv: list[str] | None = None) -> None:
    """Run one version of the reviews service until SIGTERM."""
    parser = argparse.ArgumentParser(description="Bookinfo's reviews service.")
    parser.add_argument("--version", choices=sorted(VERSIONS), default="v1",
                        help="which version to be [v1]")  # fmt: skip
    args = parse_listen_args("", argv, parser)
    settings = VERSIONS[args.version]
    timeout = os.environ.get("RATINGS_TIMEOUT")
    if timeout:
        settings = ReviewsSettings(settings.version, settings.ratings, settings.star_color,
                                   float(timeout))  # fmt: skip
    handler = type(
        f"Reviews{settings.version.upper()}Handler",
        (ReviewsHandler,),
        {
            "settings": settings,
            "ratings_url": os.environ.get("RATINGS_URL", ReviewsHandler.ratings_url),
            "workload": os.environ.get("MIZZEN_WORKLOAD") or socket.gethostname(),
        },
    )
    serve(handler, args.host, args.port)


if __name__ == "__main__":
    main()
