"""Models of security.istio.io (v1 and v1beta1 share one schema)."""
