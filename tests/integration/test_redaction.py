"""No credential, key, kubeconfig content or server address in any report, attachment or log.

The harness runs against the session's embedded cluster, whose bearer tokens are random hex, with
every report on (evidence bundle, history, JUnit, Allure). A scenario even carries the admin
token and the server URL in its manifest, as a careless author might; then every byte the run
wrote, and its console output, is searched.
"""

from __future__ import annotations

import base64
import json
import textwrap

import pytest
import yaml

from _harness_run import run_harness

pytestmark = pytest.mark.integration


def leaky_scenario(token: str, server: str) -> str:
    """A compliant pod whose env and annotations carry the runner's token and the API server URL."""
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Pod
        metadata:
          name: leaky-pod
          annotations:
            note: "debug: curl -H 'Authorization: Bearer {token}' {server}/api"
            pss-harness.io/scenario: |
              title: Compliant pod whose author pasted a token and the server URL into it
              gain: Nothing; a control case that every level must admit.
              level: none
              checks: []
              severity: info
        spec:
          securityContext:
            runAsNonRoot: true
            runAsUser: 65534
            seccompProfile:
              type: RuntimeDefault
          containers:
            - name: app
              image: registry.k8s.io/pause:3.10
              env:
                - name: KUBE_TOKEN
                  value: "{token}"
                - name: KUBE_SERVER
                  value: "{server}"
              securityContext:
                allowPrivilegeEscalation: false
                capabilities:
                  drop: ["ALL"]
        """)


def test_no_report_attachment_or_log_contains_a_credential(embedded, tmp_path):
    tokens = {name: ident.token for name, ident in embedded.identities.items()}
    server = embedded.server.rstrip("/")
    kubeconfig = yaml.safe_load(embedded.kubeconfig.read_text())
    ca_data = kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]
    run = run_harness(embedded, tmp_path, run_id="redaction",
                      extra_files={"controls/leaky-pod.yaml": leaky_scenario(tokens["admin"], server)})
    assert run.process.returncode == 1, run.log[-4000:]  # the mislabelled scenario's failures

    files = [p for p in run.reports.rglob("*") if p.is_file()]
    names = {p.relative_to(run.reports).as_posix() for p in files}
    assert {"runs/redaction/junit.xml", "history.sqlite", "evidence/redaction/results.json",
            "evidence/redaction/history.json", "evidence/redaction/index.html", "evidence/redaction/SHA256SUMS",
            "runs/redaction/allure-results/environment.properties"} <= names, sorted(names)[:20]
    # every citation has a file of its own (Allure 3 links a file to one result), and it resolves
    cited = {a["source"] for r in run.allure.glob("*-result.json") for a in json.loads(r.read_text())["attachments"]}
    assert len(cited) > 50 and all((run.allure / source).is_file() for source in cited)
    assert set(cited) == {p.name for p in run.allure.glob("*-attachment.*")}
    leaky = [p for p in run.allure.glob("*-attachment.yaml") if "leaky-pod" in p.read_text()]
    assert leaky and "KUBE_TOKEN" in leaky[0].read_text()  # the leaky manifest did reach the reports

    needles = {f"token of {name}": t for name, t in tokens.items()}
    needles.update({
        "server URL": server,
        "server host:port": server.split("://", 1)[1],
        "PEM private key marker": "PRIVATE KEY",
        "PEM certificate marker": "BEGIN CERTIFICATE",
        "kubeconfig CA data": ca_data[:64],
        "decoded CA body": base64.b64decode(ca_data).decode().splitlines()[1],
    })
    found = []
    for path in files:
        data = path.read_bytes()
        for what, needle in needles.items():
            if needle.encode() in data:
                found.append(f"{what} in {path.relative_to(run.workdir)}")
    for what, needle in needles.items():
        if needle in run.log:
            found.append(f"{what} in the console log")
    assert found == []
