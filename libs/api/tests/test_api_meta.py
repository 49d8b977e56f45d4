"""Object metadata: what `kubectl get -o yaml` prints can be applied as it is."""

from __future__ import annotations

import pytest

from mizzen.api import ValidationError, VirtualService, parse_documents

KUBECTL_OUTPUT = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"networking.istio.io/v1","kind":"VirtualService"}
  creationTimestamp: "2025-03-04T11:33:02Z"
  deletionGracePeriodSeconds: 30
  deletionTimestamp: 2025-03-05T08:00:00Z
  finalizers:
  - example.com/cleanup
  generateName: reviews-
  generation: 3
  managedFields:
  - apiVersion: networking.istio.io/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        .: {}
        f:hosts: {}
        f:http: {}
    manager: kubectl-client-side-apply
    operation: Update
    time: "2025-03-04T11:33:02Z"
  name: reviews
  namespace: default
  ownerReferences:
  - apiVersion: apps/v1
    blockOwnerDeletion: true
    controller: true
    kind: Deployment
    name: reviews
    uid: 5b1c0a4e-2f43-4d5b-9e59-1c2b3a4d5e6f
  resourceVersion: "123456"
  selfLink: /apis/networking.istio.io/v1/namespaces/default/virtualservices/reviews
  uid: 0d9e8f7a-1111-2222-3333-444455556666
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
"""


def test_kubectl_get_output_is_accepted_and_round_trips() -> None:
    """Every server-populated field is kept exactly as it was given."""
    (vs,) = parse_documents(KUBECTL_OUTPUT, "kubectl.yaml")
    assert isinstance(vs, VirtualService)
    meta = vs.to_dict()["metadata"]
    assert meta["finalizers"] == ["example.com/cleanup"]
    assert meta["generateName"] == "reviews-"
    assert meta["deletionTimestamp"] == "2025-03-05T08:00:00Z"
    assert meta["deletionGracePeriodSeconds"] == 30
    assert meta["selfLink"].endswith("/virtualservices/reviews")
    assert meta["ownerReferences"][0]["kind"] == "Deployment"
    assert meta["ownerReferences"][0]["controller"] is True
    assert meta["managedFields"][0]["fieldsV1"] == {
        "f:spec": {".": {}, "f:hosts": {}, "f:http": {}}
    }
    (again,) = parse_documents(vs.to_yaml(), "again.yaml")
    assert again == vs
    assert again.to_dict() == vs.to_dict()


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("finalizers", "not-a-list", "metadata.finalizers"),
        ("finalizers", "[1]", "metadata.finalizers[0]"),
        ("deletionGracePeriodSeconds", '"30"', "metadata.deletionGracePeriodSeconds"),
        ("generateName", "[a]", "metadata.generateName"),
        ("ownerReferences", "{a: b}", "metadata.ownerReferences"),
        ("managedFields", "x", "metadata.managedFields"),
    ],
)
def test_wrong_shapes_are_rejected_with_their_path(field: str, value: str, path: str) -> None:
    """The fields are opaque, not unchecked: their outer shape is still the API server's."""
    text = f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  {field}: {value}
spec:
  hosts: [reviews]
"""
    with pytest.raises(ValidationError) as info:
        parse_documents(text, "bad.yaml")
    assert [e.path for e in info.value.errors] == [path]


def test_unknown_metadata_fields_are_still_rejected() -> None:
    """Accepting kubectl's fields does not open metadata to anything."""
    text = "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
    text += "metadata: {name: a, nmae: b}\nspec: {hosts: [a]}\n"
    with pytest.raises(ValidationError) as info:
        parse_documents(text, "bad.yaml")
    assert info.value.errors[0].path == "metadata.nmae"
