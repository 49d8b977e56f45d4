"""Bookinfo's ratings service: how many stars each reviewer gave.

``python -m mizzen.samples.bookinfo.ratings [--port 19085]``

- ``GET /ratings/<id>``: JSON ``{"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}}``
- ``GET /health``: 200
"""

from __future__ import annotations

from mizzen.samples.bookinfo.catalog import book_ratings
from mizzen.samples.bookinfo.web import AppHandler, parse_listen_args, serve

__all__ = ["RatingsHandler", "main"]


class RatingsHandler(AppHandler):
    """Serves the ratings of any numeric product id. Stateless."""

    app_name = "ratings"

    def do_GET(self) -> None:
        """See the module docstring."""
        path = self.request_path()
        if path == "/health":
            self.send_json(200, {"status": "Ratings is healthy"})
            return
        prefix, _, raw_id = path.rpartition("/")
        if prefix != "/ratings":
            self.not_found()
            return
        if not raw_id.isdigit():
            self.send_json(400, {"error": "please provide a numeric product id"})
            return
        self.send_json(200, book_ratings(int(raw_id)))


def main(argv: list[str] | None = None) -> None:
    """Run the ratings service until SIGTERM."""
    args = parse_listen_args("Bookinfo's ratings service.", argv)
    serve(RatingsHandler, args.host, args.port)


if __name__ == "__main__":
    main()
