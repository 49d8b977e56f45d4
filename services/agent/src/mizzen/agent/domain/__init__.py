"""The agent's pure logic: the workload's description, its app's environment, its Envoy's
bootstrap, backoff, and reading Envoy config dumps. No I/O here."""
