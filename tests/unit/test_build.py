"""The control-plane build's pure parts: version resolution and the generated go.mod."""

from __future__ import annotations

import pytest

import harness.embedded.builder as b
from harness.core.errors import BuildError, UsageError

UPSTREAM = """module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
\tgithub.com/foo/bar v1.0.0
\tk8s.io/api v0.0.0
\tk8s.io/apiserver v0.0.0
\tk8s.io/pod-security-admission v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
)
"""


def test_render_go_mod_replaces_every_staging_module_at_its_twin_version():
    text = b.render_go_mod("v1.34.4", UPSTREAM)
    assert "require k8s.io/kubernetes v1.34.4" in text
    for m in ("api", "apiserver", "pod-security-admission"):
        assert f"\tk8s.io/{m} => k8s.io/{m} v0.34.4" in text
    assert "go 1.24.0" in text and "godebug default=go1.24" in text
    assert "\tk8s.io/kubernetes/cmd/kube-apiserver" in text and "\tgo.etcd.io/etcd/server/v3" in text
    assert "./staging" not in text


def test_render_go_mod_refuses_a_go_mod_without_staging_modules():
    with pytest.raises(BuildError, match="no staging modules"):
        b.render_go_mod("v1.34.4", "module x\n\ngo 1.24\n")


def test_repository_go_mod_pins_the_default_version_and_every_staging_module():
    text = (b.go_module_dir() / "go.mod").read_text()
    assert f"k8s.io/kubernetes {b.DEFAULT_K8S_VERSION}" in text
    assert text.count("=> k8s.io/") >= 30
    assert (b.go_module_dir() / "go.sum").stat().st_size > 0


@pytest.mark.parametrize("spec,want", [(None, "v1.37.2"), ("1.36.3", "v1.36.3"), ("v1.34.0", "v1.34.0")])
def test_resolve_version_full_versions(spec, want):
    assert b.resolve_version(spec) == want


def test_resolve_version_minor_uses_the_newest_served_patch(monkeypatch):
    monkeypatch.setattr(b, "_served_patches", lambda minor: ["v1.36.1", "v1.36.3"])
    assert b.resolve_version("1.36") == "v1.36.3"
    monkeypatch.setattr(b, "_served_patches", lambda minor: [])
    assert b.resolve_version("1.35") == "v1.35.4"  # offline: the known table


@pytest.mark.parametrize("spec", ["2.0", "1.x", "latest", "1.24"])
def test_resolve_version_rejects_bad_or_too_old(spec):
    with pytest.raises(UsageError):
        b.resolve_version(spec)


def test_cache_root_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PSS_HARNESS_CACHE", str(tmp_path / "c"))
    assert b.cache_root() == tmp_path / "c"
    monkeypatch.delenv("PSS_HARNESS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert b.cache_root() == tmp_path / "x" / "pss-harness"


def test_build_is_a_no_op_when_binaries_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("PSS_HARNESS_CACHE", str(tmp_path))
    bins = b.binaries_for("v1.37.2")
    bins.directory.mkdir(parents=True)
    for p in (bins.kube_apiserver, bins.kube_controller_manager, bins.etcd):
        p.write_text("#!/bin/sh\n")
        p.chmod(0o755)
    bins.manifest.write_text("{}")
    monkeypatch.setattr(b, "_run_go", lambda *a, **k: pytest.fail("go must not run for a cached build"))
    assert b.build("1.37.2") == bins
