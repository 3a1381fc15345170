"""JSON types of the fields the sandbox reads, per kind, as Go's structs declare them.

The type language: a scalar name (`string`, `int32`, ...), ("list", item), ("map", value)
or ("struct", go name, fields). Unknown fields are not listed: they pass through. Used by
`shapes` to check bodies the way kube-apiserver's decoder and CRD schemas do. Pure data.
"""

from __future__ import annotations

from typing import Any

# A field type: a scalar name, ("list", item), ("map", value) or ("struct", name, fields).
Type = Any
S, I, B = "string", "int32", "bool"  # noqa: E741 - Go's own spelling of the types
IOS = "intstr.IntOrString"
Q = "resource.Quantity"
N = "float64"
FREE = "any"


def struct(go_name: str, /, **fields: Type) -> Type:
    """A Go struct type named `go_name` with these JSON fields."""
    return ("struct", go_name, fields)


def listof(item: Type) -> Type:
    """A Go slice of `item`."""
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
POLICY_RULE = struct(
    "v1.PolicyRule",
    verbs=listof(S),
    apiGroups=listof(S),
    resources=listof(S),
    resourceNames=listof(S),
    nonResourceURLs=listof(S),
)
ROLE_REF = struct("v1.RoleRef", apiGroup=S, kind=S, name=S)
SUBJECTS = listof(struct("v1.Subject", kind=S, apiGroup=S, name=S, namespace=S))
NAME_REF = struct("v1.LocalObjectReference", name=S)
KINDS |= {
    "serviceaccounts": struct(
        "v1.ServiceAccount",
        metadata=META,
        secrets=listof(struct("v1.ObjectReference", kind=S, name=S, namespace=S)),
        imagePullSecrets=listof(NAME_REF),
        automountServiceAccountToken=B,
    ),
    "roles.rbac.authorization.k8s.io": struct("v1.Role", metadata=META, rules=listof(POLICY_RULE)),
    "clusterroles.rbac.authorization.k8s.io": struct(
        "v1.ClusterRole",
        metadata=META,
        rules=listof(POLICY_RULE),
        aggregationRule=struct("v1.AggregationRule", clusterRoleSelectors=listof(SELECTOR)),
    ),
    "rolebindings.rbac.authorization.k8s.io": struct(
        "v1.RoleBinding", metadata=META, roleRef=ROLE_REF, subjects=SUBJECTS
    ),
    "clusterrolebindings.rbac.authorization.k8s.io": struct(
        "v1.ClusterRoleBinding", metadata=META, roleRef=ROLE_REF, subjects=SUBJECTS
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
