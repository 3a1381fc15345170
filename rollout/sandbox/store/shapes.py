"""JSON types of the fields the sandbox reads, checked the way Go's decoder checks them.

kube-apiserver decodes every body into typed structs: a string where an int32 belongs
is a 400 (`json: cannot unmarshal string into Go struct field ...`), and `null` is the
zero value (as if absent). This module does the same for the typed fields of the
built-in kinds (unknown fields pass through untouched). Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
# A field type: a scalar name, ("list", item), ("map", value) or ("struct", name, fields).
Type = Any
S, I, B = "string", "int32", "bool"  # noqa: E741 - Go's own spelling of the types
IOS = "intstr.IntOrString"
Q = "resource.Quantity"
N = "float64"
FREE = "any"


def struct(go_name: str, /, **fields: Type) -> Type:
    return ("struct", go_name, fields)


def listof(item: Type) -> Type:
    return ("list", item)


STRMAP = ("map", S)
OWNER = struct(
    "v1.OwnerReference", apiVersion=S, kind=S, name=S, uid=S, controller=B, blockOwnerDeletion=B
)
META = struct(
    "v1.ObjectMeta",
    name=S,
    generateName=S,
    namespace=S,
    uid=S,
    resourceVersion=S,
    generation=I,
    labels=STRMAP,
    annotations=STRMAP,
    finalizers=listof(S),
    ownerReferences=listof(OWNER),
    creationTimestamp=S,
    deletionTimestamp=S,
)
CONDITIONS = listof(
    struct(
        "v1.Condition",
        type=S,
        status=S,
        reason=S,
        message=S,
        lastTransitionTime=S,
        lastUpdateTime=S,
    )
)
PORT = struct("v1.ContainerPort", name=S, containerPort=I, hostPort=I, protocol=S)
HANDLER = dict(
    httpGet=struct("v1.HTTPGetAction", path=S, port=IOS, host=S, scheme=S),
    tcpSocket=struct("v1.TCPSocketAction", port=IOS, host=S),
)
PROBE = struct(
    "v1.Probe",
    initialDelaySeconds=I,
    timeoutSeconds=I,
    periodSeconds=I,
    successThreshold=I,
    failureThreshold=I,
    **HANDLER,
)
RESOURCES = struct("v1.ResourceRequirements", limits=("map", Q), requests=("map", Q))
CONTAINER = struct(
    "v1.Container",
    name=S,
    image=S,
    imagePullPolicy=S,
    ports=listof(PORT),
    env=listof(struct("v1.EnvVar", name=S, value=S)),
    args=listof(S),
    command=listof(S),
    resources=RESOURCES,
    livenessProbe=PROBE,
    readinessProbe=PROBE,
    startupProbe=PROBE,
    terminationMessagePath=S,
    terminationMessagePolicy=S,
    volumeMounts=listof(struct("v1.VolumeMount", name=S, mountPath=S)),
)
TOLERATION = struct("v1.Toleration", key=S, operator=S, value=S, effect=S, tolerationSeconds=I)
POD_SPEC = struct(
    "v1.PodSpec",
    containers=listof(CONTAINER),
    initContainers=listof(CONTAINER),
    nodeName=S,
    restartPolicy=S,
    terminationGracePeriodSeconds=I,
    readinessGates=listof(struct("v1.PodReadinessGate", conditionType=S)),
    serviceAccountName=S,
    serviceAccount=S,
    dnsPolicy=S,
    schedulerName=S,
    securityContext=("map", FREE),
    tolerations=listof(TOLERATION),
    volumes=listof(struct("v1.Volume", name=S)),
    priority=I,
)
TEMPLATE = struct("v1.PodTemplateSpec", metadata=META, spec=POD_SPEC)
SELECTOR = struct(
    "v1.LabelSelector",
    matchLabels=STRMAP,
    matchExpressions=listof(
        struct("v1.LabelSelectorRequirement", key=S, operator=S, values=listof(S))
    ),
)
WORKLOAD_STATUS = dict(
    replicas=I,
    readyReplicas=I,
    availableReplicas=I,
    updatedReplicas=I,
    observedGeneration=I,
    conditions=CONDITIONS,
)
CONTAINER_STATUS = struct(
    "v1.ContainerStatus", name=S, ready=B, restartCount=I, image=S, state=FREE, lastState=FREE
)
ADDRESS = struct("v1.EndpointAddress", ip=S, hostname=S, nodeName=S, targetRef=FREE)
KINDS: dict[str, Type] = {
    "deployments.apps": struct(
        "v1.Deployment",
        metadata=META,
        status=struct("v1.DeploymentStatus", **WORKLOAD_STATUS),
        spec=struct(
            "v1.DeploymentSpec",
            replicas=I,
            selector=SELECTOR,
            template=TEMPLATE,
            minReadySeconds=I,
            revisionHistoryLimit=I,
            paused=B,
            progressDeadlineSeconds=I,
            strategy=struct(
                "v1.DeploymentStrategy",
                type=S,
                rollingUpdate=struct(
                    "v1.RollingUpdateDeployment", maxSurge=IOS, maxUnavailable=IOS
                ),
            ),
        ),
    ),
    "replicasets.apps": struct(
        "v1.ReplicaSet",
        metadata=META,
        status=struct("v1.ReplicaSetStatus", **WORKLOAD_STATUS),
        spec=struct(
            "v1.ReplicaSetSpec", replicas=I, selector=SELECTOR, template=TEMPLATE, minReadySeconds=I
        ),
    ),
    "pods": struct(
        "v1.Pod",
        metadata=META,
        spec=POD_SPEC,
        status=struct(
            "v1.PodStatus",
            phase=S,
            reason=S,
            podIP=S,
            hostIP=S,
            conditions=CONDITIONS,
            containerStatuses=listof(CONTAINER_STATUS),
            initContainerStatuses=listof(CONTAINER_STATUS),
        ),
    ),
    "services": struct(
        "v1.Service",
        metadata=META,
        spec=struct(
            "v1.ServiceSpec",
            type=S,
            clusterIP=S,
            clusterIPs=listof(S),
            externalIPs=listof(S),
            selector=STRMAP,
            externalName=S,
            ports=listof(
                struct("v1.ServicePort", name=S, protocol=S, port=I, targetPort=IOS, nodePort=I)
            ),
        ),
    ),
    "endpoints": struct(
        "v1.Endpoints",
        metadata=META,
        subsets=listof(
            struct(
                "v1.EndpointSubset",
                addresses=listof(ADDRESS),
                notReadyAddresses=listof(ADDRESS),
                ports=listof(struct("v1.EndpointPort", name=S, port=I, protocol=S)),
            )
        ),
    ),
    "events": struct(
        "v1.Event",
        metadata=META,
        reason=S,
        message=S,
        type=S,
        count=I,
        involvedObject=struct(
            "v1.ObjectReference", kind=S, name=S, namespace=S, uid=S, apiVersion=S, fieldPath=S
        ),
        source=struct("v1.EventSource", component=S, host=S),
    ),
    "configmaps": struct("v1.ConfigMap", metadata=META, data=STRMAP, binaryData=STRMAP),
    "secrets": struct("v1.Secret", metadata=META, data=STRMAP, stringData=STRMAP, type=S),
    "namespaces": struct(
        "v1.Namespace", metadata=META, status=struct("v1.NamespaceStatus", phase=S)
    ),
    "leases.coordination.k8s.io": struct(
        "v1.Lease",
        metadata=META,
        spec=struct(
            "v1.LeaseSpec",
            holderIdentity=S,
            leaseDurationSeconds=I,
            leaseTransitions=I,
            acquireTime=S,
            renewTime=S,
        ),
    ),
    "horizontalpodautoscalers.autoscaling": struct(
        "v2.HorizontalPodAutoscaler",
        metadata=META,
        spec=struct(
            "v2.HorizontalPodAutoscalerSpec",
            minReplicas=I,
            maxReplicas=I,
            scaleTargetRef=struct("v2.CrossVersionObjectReference", apiVersion=S, kind=S, name=S),
        ),
    ),
}
ISTIO_ROUTE = struct(
    "DestinationWeight",
    weight=I,
    destination=struct("Destination", host=S, subset=S, port=struct("PortSelector", number=I)),
)
STRING_MATCH = ("map", struct("StringMatch", exact=S, prefix=S, regex=S))
VIRTUAL_SERVICE = struct(
    "VirtualService",
    metadata=META,
    status=("map", FREE),
    spec=struct(
        "VirtualServiceSpec",
        hosts=listof(S),
        gateways=listof(S),
        exportTo=listof(S),
        http=listof(
            struct(
                "HTTPRoute",
                name=S,
                route=listof(ISTIO_ROUTE),
                mirror=struct("Destination", host=S, subset=S),
                mirrorPercentage=struct("Percent", value=N),
                match=listof(
                    struct(
                        "HTTPMatchRequest",
                        name=S,
                        headers=STRING_MATCH,
                        withoutHeaders=STRING_MATCH,
                        uri=("map", S),
                    )
                ),
            )
        ),
    ),
)
DESTINATION_RULE = struct(
    "DestinationRule",
    metadata=META,
    status=("map", FREE),
    spec=struct(
        "DestinationRuleSpec",
        host=S,
        exportTo=listof(S),
        trafficPolicy=("map", FREE),
        subsets=listof(struct("Subset", name=S, labels=STRMAP, trafficPolicy=("map", FREE))),
    ),
)
KINDS["virtualservices.networking.istio.io"] = VIRTUAL_SERVICE
KINDS["destinationrules.networking.istio.io"] = DESTINATION_RULE
CUSTOM = struct("unstructured", metadata=META, spec=("map", FREE), status=("map", FREE))
OPENAPI_TYPES = {S: "string", I: "integer", B: "boolean", N: "number", IOS: "string", Q: "string"}


class ShapeError(Exception):
    """A value of the wrong JSON type for its field (Go's UnmarshalTypeError)."""

    def __init__(
        self, value: Any, path: tuple[str | int, ...], parent: str, expected: Type
    ) -> None:
        self.value, self.path, self.parent, self.expected = value, path, parent, expected
        super().__init__(self.go_message())

    def go_message(self) -> str:
        """What Go's json decoder says (built-in kinds: a 400)."""
        fields = ".".join(str(p) for p in self.path if isinstance(p, str))
        return (
            f"json: cannot unmarshal {_json_type(self.value)} into Go struct field "
            f"{self.parent.split('.')[-1]}.{fields} of type {_go_name(self.expected)}"
        )

    def field(self) -> str:
        """The field path with list indexes (`spec.hosts[0]`)."""
        text = ""
        for p in self.path:
            text += f"[{p}]" if isinstance(p, int) else f".{p}"
        return text.lstrip(".")

    def schema_message(self) -> str:
        """What CRD schema validation says (custom resources: a 422 cause)."""
        expected = self.expected
        want = (
            OPENAPI_TYPES.get(expected, "string")
            if isinstance(expected, str)
            else "array"
            if expected[0] == "list"
            else "object"
        )
        got = _openapi_type(self.value)
        return f'Invalid value: "{got}": {self.field()} in body must be of type {want}: "{got}"'


def decoded(key: str, obj: Obj) -> Obj:
    """`obj` with nulls in typed fields dropped; ShapeError for a wrongly typed value."""
    schema = KINDS.get(key, CUSTOM)
    return _check(obj, schema, (), schema[1])


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {value}" if isinstance(value, float) else "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "value")


def _openapi_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {str: "string", list: "array", dict: "object", float: "number"}.get(type(value), "null")


SCALARS: dict[str, Any] = {
    S: lambda v: isinstance(v, str),
    B: lambda v: isinstance(v, bool),
    I: lambda v: isinstance(v, int) and not isinstance(v, bool),
    N: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    IOS: lambda v: isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)),
    Q: lambda v: isinstance(v, str | int | float) and not isinstance(v, bool),
}


def _check(value: Any, spec: Type, path: tuple[str | int, ...], parent: str) -> Any:
    if spec == FREE:
        return value
    if isinstance(spec, str):
        if not SCALARS[spec](value):
            raise ShapeError(value, path, parent, spec)
        return value
    if spec[0] == "list":
        if not isinstance(value, list):
            raise ShapeError(value, path, parent, spec)
        return [
            _check(v, spec[1], (*path, i), parent) for i, v in enumerate(value) if v is not None
        ]
    if not isinstance(value, dict):
        raise ShapeError(value, path, parent, spec)
    if spec[0] == "map":
        return {
            k: _check(v, spec[1], (*path, k), parent) for k, v in value.items() if v is not None
        }
    out = {}
    for k, v in value.items():
        if v is not None:
            field = spec[2].get(k)
            out[k] = v if field is None else _check(v, field, (*path, k), spec[1])
    return out


def _go_name(spec: Type) -> str:
    if isinstance(spec, str):
        return spec
    if spec[0] == "map":
        return f"map[string]{_go_name(spec[1]) if spec[1] != FREE else 'interface {}'}"
    if spec[0] == "list":
        return f"[]{_go_name(spec[1])}"
    return str(spec[1])
