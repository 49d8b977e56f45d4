"""The xds service's pure logic (no gRPC, etcd or NATS imports): who a node is, what each
stream has subscribed to and been sent, what to send next, and the proxy status record."""
