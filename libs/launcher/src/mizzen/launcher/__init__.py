"""Run Mizzen's real components (etcd, nats-server, Envoy) as supervised child processes.

The public surface is small: find a binary (:func:`find_binary`), pick free loopback ports
(:class:`PortAllocator`), and start a component (:class:`EtcdProcess`, :class:`NatsProcess`,
:class:`EnvoyProcess`), each of which waits for its own readiness and is always torn down.
Children are bound to their parent with ``PR_SET_PDEATHSIG`` so that none survives the
process that started it, even when that process is killed with SIGKILL.
"""

from mizzen.launcher.binaries import find_binary
from mizzen.launcher.envoy import EnvoyProcess
from mizzen.launcher.errors import BinaryNotFoundError, LauncherError, ProcessStartError
from mizzen.launcher.etcd import EtcdProcess
from mizzen.launcher.nats import NatsProcess
from mizzen.launcher.parent import bound_to_parent
from mizzen.launcher.ports import PortAllocator, is_port_free
from mizzen.launcher.process import ChildProcess
from mizzen.launcher.service import ServiceProcess

__all__ = [
    "BinaryNotFoundError",
    "ChildProcess",
    "EnvoyProcess",
    "EtcdProcess",
    "LauncherError",
    "NatsProcess",
    "PortAllocator",
    "ProcessStartError",
    "ServiceProcess",
    "bound_to_parent",
    "find_binary",
    "is_port_free",
]
