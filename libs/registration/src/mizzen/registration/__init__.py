"""The client of discovery's registration API (``mizzen.registry.v1.RegistrationService``).

Two levels. :class:`RegistrationSession` is one registration stream, as the protocol has it
(``proto/mizzen/registry/v1/registration.proto``)::

    session = await RegistrationSession.open(channel, workload)   # stored once this returns
    await session.heartbeat(pb.HEALTH_DRAINING)                   # acknowledged: stored
    await session.deregister()                                    # endpoints removed at once

:class:`Registrar` keeps a workload registered for as long as it runs, moving to another
discovery replica whenever a stream breaks, following health changes, and giving up only when
discovery refuses the workload or none answers before the first-registration deadline::

    registrar = Registrar(["10.0.0.1:15013", "10.0.0.2:15013"], workload)
    task = registrar.start()              # raises RegistrationRefused / DiscoveryUnreachable
    await registrar.registered.wait()
    registrar.set_health(pb.HEALTH_UNHEALTHY)
    await registrar.stop()                # deregisters

Errors: :mod:`mizzen.registration.errors`.
"""

from mizzen.registration.errors import (
    FATAL_CODES,
    DiscoveryUnreachable,
    NoAnswer,
    RegistrationError,
    RegistrationRefused,
    StreamEnded,
)
from mizzen.registration.registrar import ChannelFactory, Registrar, retry_delay
from mizzen.registration.session import DEFAULT_TTL, RegistrationSession

__all__ = [
    "DEFAULT_TTL",
    "FATAL_CODES",
    "ChannelFactory",
    "DiscoveryUnreachable",
    "NoAnswer",
    "Registrar",
    "RegistrationError",
    "RegistrationRefused",
    "RegistrationSession",
    "StreamEnded",
    "retry_delay",
]
