#!/usr/bin/env bash
# Delete the kind cluster made by examples/kind/up.sh, and its kubeconfig file.
# Same environment as up.sh: ROLLOUT_KIND_CLUSTER, ROLLOUT_KIND_KUBECONFIG.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cluster="${ROLLOUT_KIND_CLUSTER:-rollout}"
kubeconfig="${ROLLOUT_KIND_KUBECONFIG:-$here/kind.kubeconfig}"

die() { printf 'down.sh: %s\n' "$*" >&2; exit 1; }

command -v kind >/dev/null 2>&1 ||
    die "kind not found on PATH; install kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation"

if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
    printf '==> deleting kind cluster %s\n' "$cluster" >&2
    kind delete cluster --name "$cluster"
else
    printf '==> no kind cluster named %s; nothing to delete\n' "$cluster" >&2
fi
rm -f "$kubeconfig"
