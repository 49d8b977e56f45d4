"""The ``mizzen`` command-line tool: start a local mesh, apply and inspect config, debug proxies."""
