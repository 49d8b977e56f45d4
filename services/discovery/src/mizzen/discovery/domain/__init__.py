"""Discovery's pure logic (no gRPC, etcd or NATS imports): validating registrations, turning
registrations and ServiceEntry/WorkloadEntry into registry values, grouping the registry for
listings, and the :class:`~mizzen.discovery.domain.source.Source` contract."""
