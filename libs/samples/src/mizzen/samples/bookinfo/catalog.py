"""The shop's one book, as each service knows it: productpage the summary, details the
bibliographic facts, reviews the texts, ratings the stars.

Every product id gets the same book (as in Bookinfo: the page is about routing, not data).
"""

from __future__ import annotations

from typing import Any

__all__ = ["PRODUCTS", "book_details", "book_ratings", "book_reviews", "product"]

PRODUCTS: tuple[dict[str, Any], ...] = (
    {
        "id": 0,
        "title": "The Comedy of Errors",
        "descriptionHtml": (
            "Two pairs of identical twins, separated by a shipwreck, all turn up in the same "
            "town on the same day. Nobody can tell who is who, and every message reaches the "
            "wrong person: Shakespeare's shortest comedy, and a fine lesson in why requests "
            "should say where they are going."
        ),
    },
)
"""The product list served at ``/api/v1/products``."""

_DETAILS: dict[str, Any] = {
    "author": "William Shakespeare",
    "year": 1595,
    "type": "paperback",
    "pages": 200,
    "publisher": "PublisherA",
    "language": "English",
    "ISBN-10": "1234567890",
    "ISBN-13": "123-1234567890",
}

_REVIEWS: tuple[tuple[str, str], ...] = (
    (
        "Reviewer1",
        "A whirlwind of mistaken identities that never loses its footing. Funny from the "
        "first scene to the last, and shorter than most meetings.",
    ),
    (
        "Reviewer2",
        "The slapstick is older than printing, yet it still works. I lost track of which "
        "Dromio was which, which I believe is the point.",
    ),
)

_STARS: dict[str, int] = {"Reviewer1": 5, "Reviewer2": 4}


def product(product_id: int) -> dict[str, Any]:
    """The product with ``product_id`` (every id is the one book)."""
    return {**PRODUCTS[0], "id": product_id}


def book_details(product_id: int) -> dict[str, Any]:
    """The details service's answer for ``product_id``."""
    return {"id": product_id, **_DETAILS}


def book_reviews() -> list[dict[str, Any]]:
    """The reviews (reviewer and text), without ratings; a new list each call."""
    return [{"reviewer": reviewer, "text": text} for reviewer, text in _REVIEWS]


def book_ratings(product_id: int) -> dict[str, Any]:
    """The ratings service's answer for ``product_id``: stars by reviewer."""
    return {"id": product_id, "ratings": dict(_STARS)}
