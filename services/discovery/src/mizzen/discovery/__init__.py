"""The discovery service: one normalized service registry in etcd (``/mizzen/registry/``).

Sources: workloads registered over gRPC by agents (lease-bound, see
``proto/mizzen/registry/v1/registration.proto``) and ServiceEntry/WorkloadEntry from the config
store (reconciled by one elected replica). Kubernetes plugs in later as another
:class:`~mizzen.discovery.domain.source.Source`.
"""
