"""Translation: Istio config + the registry + a proxy class → Envoy resource sets.

    from mizzen.translator.domain.generators import MeshTranslation, generate

    generated = generate(mesh_config, registry, proxy_class)      # one class
    translation = MeshTranslation(mesh_config, registry)          # many classes, sets shared
    for proxy_class in classes:
        generated = translation.generate(proxy_class)
        for resource_set in generated.sets:  # GeneratedSet(set_id, type_url, resources)
            ...

Every generator is a pure function of a :class:`~.view.ProxyView` and declares its inputs
(:data:`SIDECAR_GENERATORS`, :data:`GATEWAY_GENERATORS`, :data:`PROXYLESS_GENERATORS`);
set ids name the inputs that determine a set's content, so classes that would produce equal
sets share one set id. Names follow Istio throughout. Sidecars and gateways (router proxies
serving Gateway resources, see :mod:`.gateway_servers`) are served in local interception
(Mizzen's own loopback address) and capture modes; proxyless gRPC clients
(:mod:`.proxyless`) get ``api_listener`` listeners, route configurations, EDS clusters and
their assignments, named as gRPC's xDS resolver asks for them.
"""

from mizzen.translator.domain.generators.errors import GeneratorError
from mizzen.translator.domain.generators.generate import (
    GATEWAY_GENERATORS,
    PROXYLESS_GENERATORS,
    SIDECAR_GENERATORS,
    Generator,
    Input,
    MeshTranslation,
    generate,
)
from mizzen.translator.domain.generators.model import GeneratedClass, GeneratedSet
from mizzen.translator.domain.generators.scenario import Scenario, generated_to_data, load_scenario
from mizzen.translator.domain.generators.view import MeshIndex, ProxyView

__all__ = [
    "GATEWAY_GENERATORS",
    "PROXYLESS_GENERATORS",
    "SIDECAR_GENERATORS",
    "GeneratedClass",
    "GeneratedSet",
    "Generator",
    "GeneratorError",
    "Input",
    "MeshIndex",
    "MeshTranslation",
    "ProxyView",
    "Scenario",
    "generate",
    "generated_to_data",
    "load_scenario",
]
