"""Bookinfo's details service: the book's bibliographic facts.

``python -m mizzen.samples.bookinfo.details [--port 19081]``

- ``GET /details/<id>``: JSON (author, year, type, pages, publisher, language, ISBNs)
- ``GET /health``: 200
"""

from __future__ import annotations

from mizzen.samples.bookinfo.catalog import book_details
from mizzen.samples.bookinfo.web import AppHandler, parse_listen_args, serve

__all__ = ["DetailsHandler", "main"]


class DetailsHandler(AppHandler):
    """Serves the details of any numeric product id. Stateless."""

    app_name = "details"

    def do_GET(self) -> None:
        """See the module docstring."""
        path = self.request_path()
        if path == "/health":
            self.send_json(200, {"status": "Details is healthy"})
            return
        prefix, _, raw_id = path.rpartition("/")
        if prefix != "/details":
            self.not_found()
            return
        if not raw_id.isdigit():
            self.send_json(400, {"error": "please provide a numeric product id"})
            return
        self.send_json(200, book_details(int(raw_id)))


def main(argv: list[str] | None = None) -> None:
    """Run the details service until SIGTERM."""
    args = parse_listen_args("Bookinfo's details service.", argv)
    serve(DetailsHandler, args.host, args.port)


if __name__ == "__main__":
    main()
