#!/usr/bin/env bash
# Create a kind cluster ready for the rollout examples and the e2e suite:
#   1. the kind cluster (examples/kind/cluster.yaml), kubeconfig in a file of its own;
#   2. link-manager images v1, v2 (healthy) and v3 (20% errors, slower) built from
#      examples/link-manager and loaded into the cluster with `kind load`;
#   3. Prometheus scraping pods by annotation, published on 127.0.0.1:9090;
#   4. Istio (istiod) with its standard metrics, when `istioctl` is on PATH.
# Safe to re-run: an existing cluster is reused, images rebuilt and reloaded.
#
# Environment (all optional):
#   ROLLOUT_KIND_CLUSTER     cluster name (default: rollout)
#   ROLLOUT_KIND_KUBECONFIG  kubeconfig to write (default: examples/kind/kind.kubeconfig)
#   ROLLOUT_KIND_ISTIO       auto (default: install when istioctl is found), yes, or no
#   LINK_MANAGER_REPO        image repository (default: ghcr.io/example/link-manager)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cluster="${ROLLOUT_KIND_CLUSTER:-rollout}"
kubeconfig="${ROLLOUT_KIND_KUBECONFIG:-$here/kind.kubeconfig}"
istio="${ROLLOUT_KIND_ISTIO:-auto}"
repo="${LINK_MANAGER_REPO:-ghcr.io/example/link-manager}"
prometheus_url="http://127.0.0.1:9090"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'up.sh: %s\n' "$*" >&2; exit 1; }

need() {
    local tool="$1" hint="$2"
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH; $hint"
}

check_tools() {
    need docker "install Docker: https://docs.docker.com/engine/install/"
    need kind "install kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
    need kubectl "install kubectl: https://kubernetes.io/docs/tasks/tools/"
    need curl "install curl (apt-get install curl)"
    docker info >/dev/null 2>&1 || die "the Docker daemon is not reachable (is it running, may you use it?)"
    case "$istio" in
        auto | yes | no) ;;
        *) die "ROLLOUT_KIND_ISTIO must be auto, yes or no (got '$istio')" ;;
    esac
    if [ "$istio" = yes ]; then
        need istioctl "install it (https://istio.io/latest/docs/setup/getting-started/#download) or set ROLLOUT_KIND_ISTIO=no"
    fi
}

create_cluster() {
    if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
        say "kind cluster '$cluster' exists; reusing it"
        kind get kubeconfig --name "$cluster" >"$kubeconfig"
    else
        say "creating kind cluster '$cluster'"
        kind create cluster --name "$cluster" --config "$here/cluster.yaml" \
            --kubeconfig "$kubeconfig" --wait 180s
    fi
    chmod 600 "$kubeconfig"
}

build_images() {
    local context="$root/examples/link-manager"
    say "building $repo:v1, :v2 (healthy) and :v3 (20% errors, +250ms)"
    docker build -q -t "$repo:v1" --build-arg VERSION=v1 "$context" >/dev/null
    docker build -q -t "$repo:v2" --build-arg VERSION=v2 "$context" >/dev/null
    docker build -q -t "$repo:v3" --build-arg VERSION=v3 \
        --build-arg ERROR_RATE=0.2 --build-arg EXTRA_LATENCY_MS=250 "$context" >/dev/null
    say "loading the images into kind"
    kind load docker-image --name "$cluster" "$repo:v1" "$repo:v2" "$repo:v3"
}

install_prometheus() {
    say "installing Prometheus (namespace monitoring)"
    kubectl apply -f "$here/prometheus.yaml" >/dev/null
    kubectl -n monitoring rollout status deployment/prometheus --timeout=300s
    local i
    for i in $(seq 1 60); do
        if curl -fsS "$prometheus_url/-/ready" >/dev/null 2>&1; then
            return 0
        fi
        say "waiting for Prometheus on $prometheus_url ($i/60)"
        sleep 2
    done
    die "Prometheus is not answering on $prometheus_url; is host port 9090 free? (kubectl -n monitoring get pods)"
}

install_istio() {
    if [ "$istio" = no ]; then
        say "ROLLOUT_KIND_ISTIO=no: skipping Istio (istio-canary needs it)"
        return 0
    fi
    if ! command -v istioctl >/dev/null 2>&1; then
        say "istioctl not found: skipping Istio; istio-canary needs it"
        say "(download: https://istio.io/latest/docs/setup/getting-started/#download)"
        return 0
    fi
    say "installing Istio (minimal profile: istiod) with its standard metrics"
    # Small sidecar/istiod requests so one kind node fits several namespaces of pods.
    istioctl install -y --set profile=minimal \
        --set meshConfig.enablePrometheusMerge=true \
        --set values.global.proxy.resources.requests.cpu=10m \
        --set values.global.proxy.resources.requests.memory=40Mi \
        --set values.pilot.resources.requests.cpu=100m
    kubectl -n istio-system rollout status deployment/istiod --timeout=300s
    kubectl apply -f "$here/istio-telemetry.yaml" >/dev/null
}

main() {
    check_tools
    create_cluster
    export KUBECONFIG="$kubeconfig"
    build_images
    install_prometheus
    install_istio
    cat >&2 <<EOF
==> ready. To use this cluster:
    export KUBECONFIG=$kubeconfig
    export ROLLOUT_PROMETHEUS_URL=$prometheus_url
  and to run the e2e suite against it:
    export ROLLOUT_E2E_KUBECONFIG=$kubeconfig
    export ROLLOUT_E2E_PROMETHEUS_URL=$prometheus_url
    python -m pytest tests/e2e
  examples/kind/down.sh deletes the cluster.
EOF
}

main "$@"
