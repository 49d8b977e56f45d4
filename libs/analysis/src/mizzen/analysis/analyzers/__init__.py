"""The analyzers, one module each; `mizzen.analysis.registry.ANALYZERS` lists them."""
