"""The HTML of productpage: the book, its details and its reviews, or an error box for each
service that did not answer.

The page carries machine-readable markers for scripts and tests (a browser ignores them):
``<section id="reviews" data-reviews-version="v2" data-served-by="reviews-v2">``, each
rating as ``<span class="stars" data-stars="5" data-color="black">``, and each error box as
``<div class="error" data-service="reviews">``.
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = [
    "DETAILS_UNAVAILABLE",
    "MAX_STARS",
    "REVIEWS_UNAVAILABLE",
    "render_index",
    "render_product_page",
]

DETAILS_UNAVAILABLE = "Sorry, product details are currently unavailable for this book."
REVIEWS_UNAVAILABLE = "Sorry, product reviews are currently unavailable for this book."
MAX_STARS = 5

_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/static/bookinfo.css">
</head>
<body>
"""
_TAIL = "</body>\n</html>\n"


def _header(user: str | None) -> str:
    if user:
        account = (f'<span class="user">Signed in as <b>{escape(user)}</b></span> '
                   '<a href="/logout">Sign out</a>')  # fmt: skip
    else:
        account = (
            '<form class="login" method="post" action="/login">'
            '<input name="username" placeholder="user name (try jason)" aria-label="user name">'
            '<button type="submit">Sign in</button></form>'
        )
    return (f'<header><a class="brand" href="/productpage">BookInfo Sample</a>'
            f"<nav>{account}</nav></header>\n")  # fmt: skip


def _error_box(service: str, title: str, message: str) -> str:
    return (f'<div class="error" data-service="{escape(service)}"><h4>{escape(title)}</h4>'
            f"<p>{escape(message)}</p></div>\n")  # fmt: skip


def _details_section(details: dict[str, Any]) -> str:
    if "error" in details:
        return _error_box("details", "Error fetching product details!", str(details["error"]))
    rows = [("Type", "type"), ("Pages", "pages"), ("Publisher", "publisher"),
            ("Language", "language"), ("ISBN-10", "ISBN-10"), ("ISBN-13", "ISBN-13")]  # fmt: skip
    items = "".join(
        f"<dt>{escape(label)}</dt><dd>{escape(str(details.get(key, '')))}</dd>"
        for label, key in rows
    )
    return f"<dl>{items}</dl>\n"


def _rating(rating: dict[str, Any]) -> str:
    if "error" in rating:
        return f'<p class="rating-error">{escape(str(rating["error"]))}</p>'
    count = max(0, min(MAX_STARS, int(rating.get("stars", 0))))
    color = str(rating.get("color", "black"))
    if color not in ("black", "red"):
        color = "black"
    stars = "\u2605" * count + "\u2606" * (MAX_STARS - count)
    return (f'<span class="stars stars-{color}" data-stars="{count}" data-color="{color}" '
            f'title="{count} of {MAX_STARS} stars">{stars}</span>')  # fmt: skip


def _reviews_section(reviews: dict[str, Any]) -> str:
    if "error" in reviews:
        box = _error_box("reviews", "Error fetching product reviews!", str(reviews["error"]))
        return f'<section id="reviews" data-reviews-version="" data-served-by="">\n{box}</section>'
    version = escape(str(reviews.get("version", "")))
    served_by = escape(str(reviews.get("podname", "")))
    items = []
    for review in reviews.get("reviews", []):
        rating = review.get("rating")
        items.append(
            "<blockquote>"
            f"<p>{escape(str(review.get('text', '')))}</p>"
            f"<footer>{escape(str(review.get('reviewer', '')))}</footer>"
            f"{_rating(rating) if isinstance(rating, dict) else ''}"
            "</blockquote>"
        )
    body = "\n".join(items)
    return (f'<section id="reviews" data-reviews-version="{version}" '
            f'data-served-by="{served_by}">\n{body}\n'
            f'<p class="served-by">Reviews served by: <b>{served_by}</b> '
            f"(version {version})</p>\n</section>")  # fmt: skip


def render_product_page(product: dict[str, Any], *, user: str | None,
                        details: dict[str, Any], reviews: dict[str, Any]) -> str:  # fmt: skip
    """The product page. ``details`` and ``reviews`` are the services' JSON documents, or
    ``{"error": message}`` when a call failed (an error box is shown instead)."""
    title = escape(str(product.get("title", "")))
    return "".join((
        _HEAD.format(title=f"{title} - BookInfo"),
        _header(user),
        "<main>\n",
        f'<h1>{title}</h1>\n<p class="summary">{escape(str(product.get("descriptionHtml", "")))}'
        "</p>\n",
        '<div class="columns">\n<div class="column">\n<h2>Book Details</h2>\n',
        _details_section(details),
        '</div>\n<div class="column">\n<h2>Book Reviews</h2>\n',
        _reviews_section(reviews),
        "\n</div>\n</div>\n</main>\n",
        _TAIL,
    ))  # fmt: skip


def render_index() -> str:
    """The landing page: what this is and where to go."""
    return "".join((
        _HEAD.format(title="BookInfo Sample"),
        _header(None),
        "<main>\n<h1>Hello! This is a simple bookstore application.</h1>\n",
        "<p>It is made of several services, each meshed with its own Envoy: productpage calls "
        "details and reviews; reviews v2 and v3 call ratings.</p>\n",
        '<p>Open <a href="/productpage?u=normal">the product page as a normal user</a> or '
        '<a href="/productpage?u=jason">as jason</a>, the test user that routing rules '
        "single out.</p>\n",
        "</main>\n",
        _TAIL,
    ))  # fmt: skip
