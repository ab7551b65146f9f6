"""Redaction of credentials from evidence, reports and Allure results (no cluster)."""

from __future__ import annotations

import pytest

from harness.reports.redact import REDACTED, Redactor, secrets_from_client

TOKEN = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


@pytest.mark.parametrize("text,expected", [
    (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer <redacted>"),
    (f'{{"Authorization": "Bearer {TOKEN}"}}', '{"Authorization": "Bearer <redacted>"}'),
    (f"authorization={TOKEN}", "authorization=<redacted>"),
    ("proxy-authorization: Basic dXNlcjpwYXNz", "proxy-authorization: Basic <redacted>"),
    (f"sent bearer {TOKEN} to the server", "sent bearer <redacted> to the server"),
    (f"users:\n- name: admin\n  user:\n    token: {TOKEN}\n", "users:\n- name: admin\n  user:\n    token: <redacted>\n"),
    ("    client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t", "    client-key-data: <redacted>"),
    ('"password": "hunter2hunter2"', '"password": "<redacted>"'),
    ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----\n", "<redacted PEM block>\n"),
    ("-----BEGIN CERTIFICATE-----\nMIIB\n", "<redacted PEM block>"),
    (f"kubectl --token={TOKEN} get pods", "kubectl --token=<redacted> get pods"),
    ("https://admin:s3cret@cluster.example:6443/api", "https://<redacted>@cluster.example:6443/api"),
])
def test_credential_shapes_are_redacted(text, expected):
    assert Redactor().text(text) == expected
    assert "PRIVATE KEY" not in Redactor().text(text)


@pytest.mark.parametrize("text", [
    'pods "p" is forbidden: violates PodSecurity "restricted:latest": privileged (container "app" must not set '
    'securityContext.privileged=true), runAsNonRoot != true (pod or container "app" must set '
    'securityContext.runAsNonRoot=true)',
    "would violate PodSecurity \"baseline:latest\": hostPath volumes (volume \"host-root\")",
    "authorization.k8s.io/decision: allow",
    "automountServiceAccountToken: false",
    "projected token volume with expirationSeconds: 3600",
])
def test_ordinary_admission_text_is_left_alone(text):
    assert Redactor().text(text) == text


def test_mapping_keys_named_like_credentials_lose_their_values():
    record = {"request": {"headers": {"Authorization": "anything", "Accept": "application/json"}},
              "spec": {"automountServiceAccountToken": False, "token": "abc", "password": ""}}
    assert Redactor().scrub(record) == {
        "request": {"headers": {"Authorization": REDACTED, "Accept": "application/json"}},
        "spec": {"automountServiceAccountToken": False, "token": REDACTED, "password": ""}}


def test_known_secrets_are_replaced_anywhere_and_the_input_is_not_modified():
    r = Redactor({TOKEN: REDACTED, "https://127.0.0.1:40123": "<server>", "short": "x"})
    record = {"message": f"dial https://127.0.0.1:40123/api failed with {TOKEN[:20]}...{TOKEN}", "list": [TOKEN]}
    out = r.scrub(record)
    assert out == {"message": f"dial <server>/api failed with {TOKEN[:20]}...{REDACTED}", "list": [REDACTED]}
    assert record["list"] == [TOKEN]
    assert "short" not in r.secrets  # too short to replace safely


def test_secrets_from_a_client_configuration(tmp_path):
    from kubernetes.client import Configuration

    key = tmp_path / "client.key"
    body = "MHcCAQEEIBbHH3c6Y2xpZW50LWtleS1ib2R5LWxpbmUtdGhhdC1pcy1sb25n"
    key.write_text(f"-----BEGIN EC PRIVATE KEY-----\n{body}\n-----END EC PRIVATE KEY-----\n")
    conf = Configuration(host="https://127.0.0.1:40123")
    conf.api_key = {"authorization": f"Bearer {TOKEN}"}
    conf.password = "hunter2hunter2"
    conf.key_file = str(key)
    secrets = secrets_from_client(conf)
    r = Redactor(secrets)
    text = f"https://127.0.0.1:40123 127.0.0.1:40123 {TOKEN} hunter2hunter2 {body}"
    assert r.text(text) == f"<server> <server> {REDACTED} {REDACTED} {REDACTED}"


def test_allure_results_are_scrubbed_before_they_are_written():
    from allure_commons.model2 import Label, Parameter, StatusDetails, TestResult, TestStepResult

    from harness.plugin import allure as allure_labels
    from harness.reports.redact import default_redactor

    default_redactor().add({"https://10.1.2.3:6443": "<server>"})
    result = TestResult(name="x", statusDetails=StatusDetails(message=f"Bearer {TOKEN}", trace="at https://10.1.2.3:6443"),
                        parameters=[Parameter(name="kind", value="'Pod'")],
                        labels=[Label("tag", "T1611"), Label("tag", "level_baseline"), Label("tag", "attack"),
                                Label("story", "s")],
                        steps=[TestStepResult(name=f"token: {TOKEN}")])
    allure_labels._Finalize().report_result(result)
    assert result.statusDetails.message == "Bearer <redacted>"
    assert result.statusDetails.trace == "at <server>"
    assert result.steps[0].name == "token: <redacted>"
    assert [(lb.name, lb.value) for lb in result.labels] == [("tag", "T1611"), ("story", "s")]


def test_allure_environment_and_categories(tmp_path):
    import json

    from harness.plugin.allure import write_environment

    write_environment(tmp_path, {"run_id": "r1", "server_version": "v1.37.2", "cluster_fingerprint": "f" * 32,
                                 "identity": {"username": "ci"}, "options": {"audit_log": "!kubectl --token=x"}})
    env = (tmp_path / "environment.properties").read_text().splitlines()
    assert "run_id=r1" in env and "runner_identity=ci" in env
    names = [c["name"] for c in json.loads((tmp_path / "categories.json").read_text())]
    assert "Attack admitted (PodSecurity did not refuse it)" in names


_PIECES = ["plain", "pause:3.10", "token", "Bearer abc", "https://", "user:pw@", "/", "s3cr3t-value", "a\"b", "api_key",
           "x-api-key", " Password ", "-----BEGIN X-----", "ok", "ünï", "\n", "\x0b", "\x1c", "\xa0", "ab", "cd"]


def _json_like():
    from hypothesis import strategies as st

    leaf = st.one_of(st.none(), st.booleans(), st.integers(),
                     st.lists(st.sampled_from(_PIECES), max_size=3).map("".join))
    key = st.lists(st.sampled_from(_PIECES), min_size=1, max_size=2).map("".join)
    return st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(key, inner, max_size=4)), max_leaves=12)


def test_dumps_fast_path_equals_the_scrubbing_walk():
    """``dumps`` skips the walk only when it would change nothing: same object, same text."""
    import json

    from hypothesis import given, settings

    redactors = [Redactor(), Redactor({"s3cr3t-value": "<t>"}), Redactor({'quo"ted-secret': "<q>"})]

    @settings(max_examples=400, deadline=None)
    @given(_json_like())
    def check(value):
        for r in redactors:
            scrubbed, text = r.dumps(value)
            assert scrubbed == r.scrub(value)
            assert text == json.dumps(r.scrub(value), sort_keys=True, ensure_ascii=False)

    check()


def test_dumps_leaves_a_clean_record_alone_and_scrubs_a_dirty_one():
    r = Redactor({"s3cr3t-value": "<t>"})
    clean = {"image": "registry.k8s.io/pause:3.10", "labels": {"app": "x"}, "references": ["https://k8s.io/x"]}
    assert r.dumps(clean)[0] is clean
    assert r.dumps({"env": [{"name": "X", "value": "s3cr3t-value"}]})[1] == \
        '{"env": [{"name": "X", "value": "<t>"}]}'
    assert r.dumps({"Api_Key": "abcdef"})[0] == {"Api_Key": REDACTED}
    assert r.dumps({"url": "https://admin:hunter2@host/api"})[0] == {"url": f"https://{REDACTED}@host/api"}


TRANSPORT_ERROR = ("MaxRetryError: HTTPSConnectionPool(host='127.0.0.1', port=40123): Max retries exceeded with url: "
                   "/api/v1/namespaces/x/pods?dryRun=All (Caused by NewConnectionError('<urllib3.connection."
                   "HTTPSConnection object at 0x7f>: Failed to establish a new connection: [Errno 111] Connection refused'))")


def test_transport_errors_do_not_leak_the_server_address():
    """After an apiserver kill, host='127.0.0.1', port=... appeared 2,226 times in results.json."""
    r = Redactor()
    assert "127.0.0.1" not in r.text(TRANSPORT_ERROR) and "40123" not in r.text(TRANSPORT_ERROR)
    assert "HTTPSConnectionPool(host=<server>): Max retries exceeded" in r.text(TRANSPORT_ERROR)
    scrubbed, text = r.dumps({"observed": {"message": TRANSPORT_ERROR, "outcome": "error"}})
    assert "127.0.0.1" not in text and "40123" not in text and scrubbed["observed"]["outcome"] == "error"
    assert r.text('HTTPConnectionPool(host="api.internal.example", port=443)') == "HTTPConnectionPool(host=<server>)"
