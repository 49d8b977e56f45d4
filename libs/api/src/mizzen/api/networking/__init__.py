"""Models of networking.istio.io (v1, v1beta1, v1alpha3 share one schema)."""
