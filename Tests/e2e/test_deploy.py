"""The deployment files: every Kubernetes manifest valid against the Kubernetes schemas (strict:
no unknown fields), every workload with probes and resources, the namespace closed but for the
receivers, and every flag the manifests and the compose file give `ariadne` one it accepts."""

import glob
import os
import re
import subprocess

import yaml

from conftest import BINARY, ROOT

MANIFESTS = sorted(glob.glob(os.path.join(ROOT, "deploy", "kubernetes", "*.yaml")))
VALIDATOR = os.path.join(ROOT, ".venv", "bin", "kubernetes-validate")


def documents():
    for path in MANIFESTS:
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    yield os.path.basename(path), doc


def test_manifests_are_valid_against_the_kubernetes_schemas():
    assert len(MANIFESTS) >= 8
    out = subprocess.run([VALIDATOR, "--strict", "-k", "1.30.0", *MANIFESTS], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("passed") == sum(1 for _ in documents())


def test_every_workload_has_probes_and_resources_and_the_roles_are_all_there():
    kinds = {}
    for name, doc in documents():
        kinds.setdefault(doc["kind"], []).append(doc["metadata"]["name"])
        if doc["kind"] not in ("Deployment", "StatefulSet", "DaemonSet"):
            continue
        for c in doc["spec"]["template"]["spec"]["containers"]:
            assert c.get("livenessProbe") and c.get("readinessProbe"), f"{name}: {c['name']} lacks probes"
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"], f"{name}: {c['name']} lacks resources"
            if c["image"].startswith("ariadne"):
                assert c["livenessProbe"]["httpGet"]["path"] == "/health"
                assert c["readinessProbe"]["httpGet"]["path"] == "/health?ready"
    assert {"ariadne-collector", "ariadne-ingester", "ariadne-query"} <= set(kinds["Deployment"])
    assert "ariadne-agent" in kinds["DaemonSet"] and "nats" in kinds["StatefulSet"]
    assert "ariadne-collector" in kinds["HorizontalPodAutoscaler"]
    assert "ariadne-collector" in kinds["PodDisruptionBudget"]
    policies = [doc for _, doc in documents() if doc["kind"] == "NetworkPolicy"]
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"]]
    assert deny, "no default-deny ingress policy"
    # Only the receivers admit traffic from anywhere (a rule without `from`).
    open_rules = [p["metadata"]["name"] for p in policies for rule in p["spec"].get("ingress", []) if "from" not in rule]
    assert open_rules == ["receivers-from-anywhere"], open_rules


def ariadne_args():
    for name, doc in documents():
        if doc["kind"] in ("Deployment", "DaemonSet"):
            for c in doc["spec"]["template"]["spec"]["containers"]:
                if c["image"].startswith("ariadne"):
                    yield name, c["args"]
    with open(os.path.join(ROOT, "deploy", "compose.yaml")) as f:
        compose = yaml.safe_load(f)
    for service, spec in compose["services"].items():
        if spec.get("image", "").startswith("ariadne"):
            yield f"compose {service}", spec["command"]


def test_every_flag_the_deployment_files_give_is_one_serve_accepts():
    help_text = subprocess.run([BINARY, "serve", "--help"], capture_output=True, text=True, timeout=30).stdout
    accepted = set(re.findall(r"(--[a-z][a-z0-9-]*)", help_text))
    roles = set()
    for where, args in ariadne_args():
        assert args[0] == "serve", where
        flags = [a.split("=", 1)[0] for a in args if a.startswith("--")]
        unknown = [f for f in flags if f not in accepted]
        assert not unknown, f"{where}: serve does not take {unknown}"
        joined = " ".join(args)
        m = re.search(r"--role[= ](\w+)", joined)
        roles.add(m.group(1) if m else "all")
    assert {"collector", "ingester", "query", "all"} <= roles, roles
