"""The translator's pure logic (no gRPC, etcd or NATS imports)."""
