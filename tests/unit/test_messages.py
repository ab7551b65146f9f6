"""Parsing PodSecurity denials, warnings and audit annotations back into reasons and check IDs."""

from __future__ import annotations

import pytest

from harness.core.messages import (
    TRUNCATION_RUNES,
    Item,
    ParsedViolation,
    canonical_reason,
    parse_checks,
    parse_podsecurity_message,
    reasons_to_checks,
    split_items,
    unquote_warning_header,
)
from harness.core.model import Level, PolicyVersion
from harness.policy import evaluate_pod

UNHARDENED = (
    'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), '
    'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), '
    'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), '
    'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")')
UNHARDENED_ITEMS = [
    Item("allowPrivilegeEscalation != false", 'container "c" must set securityContext.allowPrivilegeEscalation=false'),
    Item("unrestricted capabilities", 'container "c" must set securityContext.capabilities.drop=["ALL"]'),
    Item("runAsNonRoot != true", 'pod or container "c" must set securityContext.runAsNonRoot=true'),
    Item("seccompProfile", 'pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"'),
]
RESTRICTED_IDS = ("allowPrivilegeEscalation", "capabilities_restricted", "runAsNonRoot", "seccompProfile_restricted")


@pytest.mark.parametrize("text, kind, prefix", [
    (f'pods "x" is forbidden: violates PodSecurity "restricted:latest": {UNHARDENED}', "violates",
     'pods "x" is forbidden: '),
    (f'admission webhook "pod-security-webhook.kubernetes.io" denied the request: pods "x" is forbidden: '
     f'violates PodSecurity "restricted:latest": {UNHARDENED}', "violates",
     'admission webhook "pod-security-webhook.kubernetes.io" denied the request: pods "x" is forbidden: '),
    (f'Error from server (Forbidden): error when creating "p.yaml": pods "x" is forbidden: '
     f'violates PodSecurity "restricted:latest": {UNHARDENED}\n', "violates",
     'Error from server (Forbidden): error when creating "p.yaml": pods "x" is forbidden: '),
    (f'would violate PodSecurity "restricted:latest": {UNHARDENED}', "would violate", ""),
    (f'299 - "would violate PodSecurity \\"restricted:latest\\": {UNHARDENED.replace(chr(34), chr(92) + chr(34))}"',
     "would violate", ""),
])
def test_forms(text, kind, prefix):
    v = parse_podsecurity_message(text)
    assert v is not None
    assert (v.kind, v.level, v.version, v.policy, v.prefix) == (kind, "restricted", "latest", "restricted:latest", prefix)
    assert list(v.items) == UNHARDENED_ITEMS
    assert (v.truncated, v.partial) == (False, False)
    assert v.mode == ("enforce" if kind == "violates" else "warn/audit")
    mapping = v.checks(37)
    assert mapping.checks == RESTRICTED_IDS and mapping.unknown == ()


@pytest.mark.parametrize("text", [
    "", "pods \"x\" is forbidden: exceeded quota", 'violates PodSecurity "restricted:v2.0": privileged',
    'violates PodSecurity "strict:latest": privileged', 'violates PodSecurity "restricted:v1.030": privileged',
    "would violate PodSecurity restricted:latest: privileged",
])
def test_not_podsecurity(text):
    assert parse_podsecurity_message(text) is None


@pytest.mark.parametrize("body, items", [
    ("privileged", [Item("privileged", "")]),
    ("privileged, hostPort", [Item("privileged", ""), Item("hostPort", "")]),
    ('host namespaces (hostNetwork=true, hostPID=true, hostIPC=true), forbidden sysctls (a.b, c.d)',
     [Item("host namespaces", "hostNetwork=true, hostPID=true, hostIPC=true"), Item("forbidden sysctls", "a.b, c.d")]),
    ('hostPort (containers "a", "b" use hostPorts 10, 8080, 9), privileged',
     [Item("hostPort", 'containers "a", "b" use hostPorts 10, 8080, 9'), Item("privileged", "")]),
    ('unrestricted capabilities (containers "a", "c" must set securityContext.capabilities.drop=["ALL"]; '
     'container "b" must not include "CHOWN", "SYS_TIME" in securityContext.capabilities.add)',
     [Item("unrestricted capabilities", 'containers "a", "c" must set securityContext.capabilities.drop=["ALL"]; '
                                        'container "b" must not include "CHOWN", "SYS_TIME" in securityContext.capabilities.add')]),
    # nested unescaped quotes from joinQuote around Go %q values
    ('forbidden AppArmor profiles (pod and container "a" and annotations must not set AppArmor profile type to '
     '"Unconfined", "container.apparmor.security.beta.kubernetes.io/b="unconfined"", '
     '"container.apparmor.security.beta.kubernetes.io/c="unconfined""), host namespaces (hostPID=true)',
     [Item("forbidden AppArmor profiles", 'pod and container "a" and annotations must not set AppArmor profile type to '
                                          '"Unconfined", "container.apparmor.security.beta.kubernetes.io/b="unconfined"", '
                                          '"container.apparmor.security.beta.kubernetes.io/c="unconfined""'),
      Item("host namespaces", "hostPID=true")]),
    # a value holding an unbalanced parenthesis: the reason-boundary fallback takes over
    ('non-default capabilities (container "a" must not include "X(" in securityContext.capabilities.add), '
     'some future reason, privileged (container "a" must not set securityContext.privileged=true)',
     [Item("non-default capabilities", 'container "a" must not include "X(" in securityContext.capabilities.add'),
      Item("some future reason", ""),
      Item("privileged", 'container "a" must not set securityContext.privileged=true')]),
    ('seLinuxOptions (container "a" set forbidden securityContext.seLinuxOptions: type "x)y"), hostPort (container "a" uses hostPort 1)',
     [Item("seLinuxOptions", 'container "a" set forbidden securityContext.seLinuxOptions: type "x)y"'),
      Item("hostPort", 'container "a" uses hostPort 1')]),
    ("", []),
])
def test_split_items_top_level_only(body, items):
    assert split_items(body) == items


def test_items_are_tuples_for_callers_that_unpack():
    [(reason, detail)] = split_items("privileged (container \"a\" must not set securityContext.privileged=true)")
    assert reason == "privileged" and detail.startswith('container "a"')


# -- reasons -> check ids ---------------------------------------------------------------------------------

@pytest.mark.parametrize("reason, level, minor, check", [
    ("seccompProfile", Level.BASELINE, 0, "seccompProfile_baseline"),
    ("seccompProfile", Level.BASELINE, 37, "seccompProfile_baseline"),
    ("seccompProfile", Level.RESTRICTED, 18, "seccompProfile_baseline"),
    ("seccompProfile", Level.RESTRICTED, 19, "seccompProfile_restricted"),
    ("procMount", Level.RESTRICTED, 34, "procMount"),
    ("procMount", Level.RESTRICTED, 35, "procMount_restricted"),
    ("procMount", Level.BASELINE, 37, "procMount"),
    ("non-default capabilities", Level.RESTRICTED, 21, "capabilities_baseline"),
    ("non-default capabilities", Level.RESTRICTED, 22, None),  # overridden: that phrase cannot appear any more
    ("hostPath volumes", Level.RESTRICTED, 0, None),
    ("hostPath volumes", Level.BASELINE, 0, "hostPathVolumes"),
    ("forbidden AppArmor profile", Level.BASELINE, 0, "appArmorProfile"),
    ("forbidden AppArmor profiles", Level.RESTRICTED, 37, "appArmorProfile"),
    ("probe or lifecycle host", Level.BASELINE, 33, None),
    ("probe or lifecycle host", Level.BASELINE, 34, "hostProbesAndHostLifecycle"),
    ("runAsUser=0", Level.RESTRICTED, 22, None),
    ("runAsUser=0", Level.RESTRICTED, 23, "runAsUser"),
    ("allowPrivilegeEscalation != false", Level.BASELINE, 37, None),
])
def test_reason_to_check(reason, level, minor, check):
    mapping = reasons_to_checks([reason], level, minor)
    assert mapping.pairs == ((reason, check),)
    assert mapping.checks == ((check,) if check else ())
    assert mapping.unknown == (() if check else (reason,))


def test_unknown_reasons_are_kept_in_order():
    mapping = reasons_to_checks(["privileged", "brand new", "unknown forbidden reason", "privileged", "hostPort"],
                                Level.BASELINE, 37)
    assert mapping.checks == ("privileged", "hostPorts")
    assert mapping.unknown == ("brand new", "unknown forbidden reason")
    assert [c for _, c in mapping.pairs] == ["privileged", None, None, "privileged", "hostPorts"]


def test_canonical_reason():
    assert canonical_reason("forbidden AppArmor profiles") == "forbidden AppArmor profile"
    assert canonical_reason("forbidden sysctls") == "forbidden sysctls"


def test_reasons_property_is_canonical_and_items_verbatim():
    v = parse_podsecurity_message('violates PodSecurity "baseline:v1.30": forbidden AppArmor profiles (pod and annotation '
                                  'must not set AppArmor profile type to "Unconfined", "container.apparmor.security.beta.'
                                  'kubernetes.io/a="unconfined"")')
    assert v.items[0].reason == "forbidden AppArmor profiles"
    assert v.reasons == ["forbidden AppArmor profile"]
    assert v.checks(37).checks == ("appArmorProfile",)


@pytest.mark.parametrize("version, newest, minor, check", [
    ("latest", 37, 37, "seccompProfile_restricted"),
    ("v1.18", 37, 18, "seccompProfile_baseline"),
    ("v1.99", 37, 37, "seccompProfile_restricted"),
    ("latest", 18, 18, "seccompProfile_baseline"),
])
def test_version_resolution(version, newest, minor, check):
    v = parse_podsecurity_message(f'violates PodSecurity "restricted:{version}": seccompProfile (x)')
    assert v.version == version and v.evaluated_minor(newest) == minor
    assert v.checks(newest).checks == (check,)


def test_verdict_parse_checks_uses_canonical_reasons():
    from harness.core import verdict

    assert verdict.parse_checks is parse_checks and verdict.ParsedViolation is ParsedViolation  # one parser
    parsed = parse_checks('would violate PodSecurity "baseline:latest": forbidden AppArmor profiles (pod and annotation '
                          'must not set AppArmor profile type to "Unconfined", "x")', 37)
    assert parsed.checks == frozenset({"appArmorProfile"}) and parsed.unknown == ()


# -- truncation (warnings cut to 256 runes once a response's warnings pass 4096) ---------------------------

LONG = f'would violate PodSecurity "restricted:latest": host namespaces (hostNetwork=true), {UNHARDENED}'


def cut(text: str, n: int = TRUNCATION_RUNES) -> str:
    return text[:n]


def test_truncated_inside_detail():
    text = cut(LONG)
    assert len(text) == 256 and text.endswith('(container "c" must set securityContext.')
    v = parse_podsecurity_message(text)
    assert (v.truncated, v.partial, v.reason_cut) == (True, True, False)
    assert [i.reason for i in v.items] == ["host namespaces", "allowPrivilegeEscalation != false", "unrestricted capabilities"]
    assert v.items[-1].detail == 'container "c" must set securityContext.'
    mapping = v.checks(37)
    assert mapping.checks == ("hostNamespaces", "allowPrivilegeEscalation", "capabilities_restricted")
    assert mapping.truncated and mapping.unknown == ()


def test_truncated_inside_reason_is_kept_not_mapped():
    head = 'would violate PodSecurity "restricted:latest": '
    body = 'privileged (container "a" must not set securityContext.privileged=true), runAsNonRo'
    v = parse_podsecurity_message(head + body, truncated=True)
    assert (v.truncated, v.partial, v.reason_cut) == (True, True, True)
    mapping = v.checks(37)
    assert mapping.checks == ("privileged",) and mapping.unknown == ("runAsNonRo",)


def test_truncated_bare_reason_that_could_grow_is_not_trusted():
    v = parse_podsecurity_message('would violate PodSecurity "baseline:latest": hostPort (container "a" uses hostPort 1), '
                                  'forbidden AppArmor profile', truncated=True)
    # "forbidden AppArmor profile" may have been "...profiles": same check, so it still maps
    assert v.reason_cut and v.checks(37).checks == ("hostPorts", "appArmorProfile")


def test_truncated_in_multibyte_text_counts_runes():
    head = 'would violate PodSecurity "baseline:latest": '
    detail = 'pod must not set securityContext.seLinuxOptions: type "' + "é" * 300
    text = cut(head + "seLinuxOptions (" + detail)
    assert len(text) == 256 and len(text.encode()) > 256
    v = parse_podsecurity_message(text)
    assert v.truncated and v.partial and v.checks(37).checks == ("seLinuxOptions",)


def test_exactly_256_runes_is_reported_as_possibly_truncated_unless_told():
    head = 'would violate PodSecurity "baseline:latest": privileged (container "'
    tail = '" must not set securityContext.privileged=true)'
    complete = head + "a" * (TRUNCATION_RUNES - len(head) - len(tail)) + tail
    assert len(complete) == TRUNCATION_RUNES
    v = parse_podsecurity_message(complete)
    assert (v.truncated, v.partial) == (True, False)  # a cut may have fallen on an item boundary
    v = parse_podsecurity_message(complete, truncated=False)
    assert (v.truncated, v.partial) == (False, False)
    assert v.items[0].reason == "privileged" and v.items[0].detail.endswith('a" must not set securityContext.privileged=true')


def test_short_complete_warning_is_not_truncated():
    v = parse_podsecurity_message(f'would violate PodSecurity "restricted:v1.25": {UNHARDENED}')
    assert not v.truncated and not v.partial


def test_denials_are_never_marked_truncated_by_length():
    head = 'violates PodSecurity "baseline:latest": privileged (container "'
    tail = '" must not set securityContext.privileged=true)'
    text = head + "a" * (TRUNCATION_RUNES - len(head) - len(tail)) + tail
    assert len(text) == TRUNCATION_RUNES
    for form in (text, 'pods "p" is forbidden: ' + text):
        v = parse_podsecurity_message(form)
        assert (v.truncated, v.partial) == (False, False) and v.checks(37).checks == ("privileged",)


def test_warning_header_unquoting():
    assert unquote_warning_header('299 - "a \\"b\\" c"') == ('a "b" c', True)
    assert unquote_warning_header('299 - "cut \\"b') == ('cut "b', False)
    assert unquote_warning_header("plain text") == ("plain text", True)
    v = parse_podsecurity_message('299 - "would violate PodSecurity \\"baseline:latest\\": privileged (container \\"a\\" '
                                  'must not set securityContext.privileged=true)" "Mon, 01 Jan 2026 00:00:00 GMT"')
    assert v.items == (Item("privileged", 'container "a" must not set securityContext.privileged=true'),)
    assert not v.truncated


# -- round trip: what the evaluator prints, the parser reads back -------------------------------------------

ROUND_TRIP_SPECS = [
    {"containers": [{"name": "c"}]},
    {"hostNetwork": True, "hostPID": True, "containers": [{"name": "a", "ports": [{"hostPort": 1}, {"hostPort": 20}]},
                                                          {"name": "b", "ports": [{"hostPort": 3}]}]},
    {"securityContext": {"sysctls": [{"name": "kernel.msgmax"}, {"name": "net.core.somaxconn"}],
                         "seLinuxOptions": {"type": "spc_t", "user": "u"}, "runAsUser": 0},
     "containers": [{"name": "a", "securityContext": {"capabilities": {"add": ["SYS_ADMIN", "NET_RAW"]},
                                                     "appArmorProfile": {"type": "Unconfined"}}}],
     "volumes": [{"name": "h", "hostPath": {}}, {"name": "n", "nfs": {}}]},
]


@pytest.mark.parametrize("spec", ROUND_TRIP_SPECS)
@pytest.mark.parametrize("level", [Level.BASELINE, Level.RESTRICTED])
@pytest.mark.parametrize("version", ["v1.0", "v1.18", "v1.22", "latest"])
def test_round_trip(spec, level, version):
    meta = {"annotations": {"container.apparmor.security.beta.kubernetes.io/a": "unconfined",
                            "seccomp.security.alpha.kubernetes.io/pod": "unconfined"}}
    ev = evaluate_pod(meta, spec, level, PolicyVersion.parse(version))
    for prefix in ("violates", "would violate"):
        v = parse_podsecurity_message(f'pods "p" is forbidden: {ev.message(prefix)}')
        assert v.policy == ev.policy and v.kind == prefix
        assert [(i.reason, i.detail) for i in v.items] == [(r.reason, r.detail) for r in ev.results]
        assert list(v.checks(37).checks) == ev.ids


# -- parse_checks: the parse and the reason -> check mapping in one step, truncation-aware -------------------


def _cut_inside(reason: str) -> str:
    """``LONG`` with a detail padded so that the 256-rune cut falls inside ``reason``."""
    for n in range(200):
        text = LONG.replace("(hostNetwork=true)", "(hostNetwork=true" + "x" * n + ")")
        start = text.index(", " + reason) + 2
        if start + 3 < TRUNCATION_RUNES < start + len(reason):
            return cut(text)
    raise AssertionError(f"no padding puts the cut inside {reason!r}")


def test_parse_checks_of_a_cut_warning_keeps_the_cut_reason_apart():
    text = _cut_inside("unrestricted capabilities")
    parsed = parse_checks(text, 37)
    assert parsed.policy == "restricted:latest" and parsed.truncated
    assert parsed.checks == frozenset({"hostNamespaces", "allowPrivilegeEscalation"})
    assert parsed.cut_reason and "unrestricted capabilities".startswith(parsed.cut_reason)
    assert parsed.unknown == (parsed.cut_reason,)
    whole = parse_checks(LONG, 37)
    assert not whole.truncated and whole.cut_reason == "" and whole.unknown == ()
    assert whole.checks == frozenset({"hostNamespaces", *RESTRICTED_IDS})


def test_parse_checks_does_not_trust_a_cut_bare_reason_that_another_phrase_extends(monkeypatch):
    """The mapping of a reason cut short goes through ``Violation.checks`` (``partial_last``), in
    ``parse_checks`` too: a cut phrase that happens to be a whole known phrase is not taken for it
    when a longer phrase of another check starts with it."""
    from harness.core import messages

    monkeypatch.setattr(messages, "_KNOWN_REASONS", sorted([*messages._KNOWN_REASONS, "privileged mode"],
                                                           key=len, reverse=True))
    head = 'would violate PodSecurity "baseline:latest": hostPort (container "a" uses hostPort 1), '
    parsed = parse_checks(head + "privileged", 37, truncated=True)
    assert parsed.checks == frozenset({"hostPorts"}) and parsed.unknown == ("privileged",)
    assert parsed.cut_reason == "privileged"
    assert parse_checks(head + "privileged", 37, truncated=False).checks == frozenset({"hostPorts", "privileged"})


def test_judge_reports_a_cut_warning_as_cut_not_as_an_unknown_reason():
    from harness.core.answers import Response
    from harness.core.expectations import Expectation, Policy
    from harness.core.model import Mode, Outcome
    from harness.core.verdict import judge, observe

    text = _cut_inside("unrestricted capabilities")
    obs = observe(Response("POST", "/x", {}, 201, {"kind": "Deployment"}, [text]), 37)
    want = Expectation(Outcome.WARNED, frozenset({"hostNamespaces", *RESTRICTED_IDS}))
    verdict = judge(want, obs, Policy(Level.RESTRICTED, Mode.WARN, PolicyVersion.parse("latest")), audit_observed=False)
    assert not verdict.passed
    assert not any("unrecognised" in p for p in verdict.problems)
    assert any("missing expected check(s) capabilities_restricted, runAsNonRoot, seccompProfile_restricted" in p
               for p in verdict.problems)
    assert any(p.startswith("note: the server cut this warning to 256 runes") for p in verdict.problems)
