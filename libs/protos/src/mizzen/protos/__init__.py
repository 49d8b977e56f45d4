"""Generated code for Mizzen's internal contracts.

``proto/mizzen/<area>/v1/*.proto`` compiles to ``mizzen.protos.<area>.v1`` (``*_pb2``,
``*_pb2_grpc`` and their ``.pyi`` stubs). Regenerate with ``make proto``; a test fails when the
committed code is stale. Nothing here is written by hand except :mod:`mizzen.protos.build`.
"""
