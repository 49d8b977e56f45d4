"""The translator service: the config API now; the translation of config and registry into
Envoy resources per proxy class next (see ARCHITECTURE.md)."""
