"""Sample applications for a local Mizzen mesh (``mizzen demo``).

:mod:`mizzen.samples.bookinfo` is a bookstore shaped like Istio's Bookinfo (productpage,
details, reviews v1-v3, ratings), written here with the standard library, plus Istio's
Bookinfo task YAMLs written for it.
"""
