"""Small real upstream apps for end-to-end tests (run as ``python -m mizzen.testing.apps.X``)."""
