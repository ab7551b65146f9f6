"""``report verify`` and the sums writer read only regular files inside the bundle: no link is followed, nothing blocks.

Each hostile entry (a link out of the bundle, a FIFO, a socket, a device, a path in SHA256SUMS
that escapes) is refused and named; verification runs in a subprocess with a deadline, so a
regression that blocks on a FIFO fails the test instead of hanging the suite.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness.core.errors import UsageError
from harness.reports import bundle, safefs, signing

ASSET = Path(__file__).resolve().parents[1] / "assets" / "results-one-failure.json"
REPO = Path(__file__).resolve().parents[2]
DEADLINE = 30  # seconds; a verify of this bundle takes well under one


@pytest.fixture
def run_dir(tmp_path) -> Path:
    directory = tmp_path / "evidence" / "fixture1"
    bundle.write_bundle(directory, json.loads(ASSET.read_text()))
    return directory


def cli_verify(directory: Path, *extra: str) -> subprocess.CompletedProcess:
    """``pss-harness report verify`` in a child process that must finish within ``DEADLINE``."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "harness", "report", "verify", str(directory), *extra],
                          capture_output=True, text=True, timeout=DEADLINE, env=env)


def within_deadline(fn, *args):
    """``fn(*args)`` in a daemon thread; fail (instead of hanging the suite) if it has not returned by ``DEADLINE``."""
    out: dict = {}

    def run():
        try:
            out["value"] = fn(*args)
        except BaseException as exc:  # re-raised in the test's thread
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(DEADLINE)
    assert not thread.is_alive(), f"{fn.__name__} still blocked after {DEADLINE} s"
    if "error" in out:
        raise out["error"]
    return out.get("value")


def append_sum(directory: Path, digest: str, name: str) -> None:
    with (directory / "SHA256SUMS").open("a") as fh:
        fh.write(f"{digest}  {name}\n")


def test_a_link_to_a_directory_outside_the_bundle_is_refused(run_dir):
    (run_dir / "etc").symlink_to("/etc")
    result = bundle.verify(run_dir)
    assert not result.ok
    assert result.lines() == ["refused: etc (a symbolic link to /etc; a bundle holds regular files only)"]


def test_a_listed_file_under_a_linked_directory_is_not_read(run_dir):
    (run_dir / "etc").symlink_to("/etc")
    target = Path("/etc/hostname") if Path("/etc/hostname").is_file() else Path("/etc/passwd")
    append_sum(run_dir, hashlib.sha256(target.read_bytes()).hexdigest(), f"etc/{target.name}")
    result = bundle.verify(run_dir)
    # named once, as the link it lies under; neither hashed (followed) nor "removed"
    assert result.lines() == ["refused: etc (a symbolic link to /etc; a bundle holds regular files only)"]


def test_a_link_to_a_file_outside_listed_with_its_right_digest_is_refused(run_dir, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("outside the bundle")
    (run_dir / "notes.txt").symlink_to(outside)
    append_sum(run_dir, hashlib.sha256(outside.read_bytes()).hexdigest(), "notes.txt")
    proc = cli_verify(run_dir)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [f"refused: notes.txt (a symbolic link to {outside}; "
                                        "a bundle holds regular files only)"]


def test_a_link_inside_the_bundle_is_refused_too(run_dir):
    (run_dir / "copy.html").symlink_to("index.html")
    assert [l.split(" (")[0] for l in bundle.verify(run_dir).lines()] == ["refused: copy.html"]


def test_a_fifo_listed_in_the_sums_does_not_block_verify(run_dir):
    os.mkfifo(run_dir / "pipe")
    append_sum(run_dir, "0" * 64, "pipe")
    proc = cli_verify(run_dir)  # blocked until killed before the fix
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == ["refused: pipe (a FIFO; a bundle holds regular files only)"]


def test_a_fifo_in_place_of_a_listed_file_does_not_block_verify(run_dir):
    (run_dir / "results.json").unlink()
    os.mkfifo(run_dir / "results.json")
    proc = cli_verify(run_dir, "--history", str(run_dir / "history.sqlite"), "--audit-log", "/dev/null")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "refused: results.json (a FIFO; a bundle holds regular files only)" in proc.stdout.splitlines()
    assert "removed: results.json" not in proc.stdout


def test_a_fifo_as_the_sums_file_does_not_block_verify(run_dir):
    (run_dir / "SHA256SUMS").unlink()
    os.mkfifo(run_dir / "SHA256SUMS")
    proc = cli_verify(run_dir)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == ["refused: SHA256SUMS (a FIFO; a bundle holds regular files only)"]


def test_a_sums_file_that_is_a_link_is_refused(run_dir, tmp_path):
    real = tmp_path / "sums-elsewhere"
    (run_dir / "SHA256SUMS").rename(real)
    (run_dir / "SHA256SUMS").symlink_to(real)
    assert [l.split(" (")[0] for l in bundle.verify(run_dir).lines()] == ["refused: SHA256SUMS"]


def test_a_socket_is_refused(run_dir):
    sock = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    os.chdir(run_dir)  # a socket path is limited to ~100 bytes; bind relative to the bundle
    try:
        sock.bind("sock")
    finally:
        os.chdir(cwd)
        sock.close()
    assert bundle.verify(run_dir).lines() == ["refused: sock (a socket; a bundle holds regular files only)"]


def test_a_device_is_refused(run_dir):
    try:
        os.mknod(run_dir / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot create a device node here: {exc}")
    append_sum(run_dir, "0" * 64, "null")
    proc = cli_verify(run_dir)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == ["refused: null (a character device; a bundle holds regular files only)"]


@pytest.mark.parametrize("name,reason", [
    ("../outside.txt", "a path with '..', outside the bundle"),
    ("sub/../../outside.txt", "a path with '..', outside the bundle"),
    ("/etc/passwd", "an absolute path, outside the bundle"),
])
def test_paths_in_the_sums_that_escape_the_bundle_are_named_and_not_read(run_dir, name, reason):
    (run_dir.parent / "outside.txt").write_text("x")
    append_sum(run_dir, "0" * 64, name)
    lines = bundle.verify(run_dir).lines()
    assert len(lines) == 1 and lines[0].startswith("malformed: SHA256SUMS line 3:") and lines[0].endswith(f"({reason})")
    assert name in lines[0]


def test_every_refusal_is_listed_at_once(run_dir):
    (run_dir / "etc").symlink_to("/etc")
    os.mkfifo(run_dir / "pipe")
    (run_dir / "sub").mkdir()
    (run_dir / "sub" / "root").symlink_to("/")
    append_sum(run_dir, "0" * 64, "../escape")
    proc = cli_verify(run_dir)
    assert proc.returncode == 1
    assert [l.split(" (")[0].split(":")[0] + ":" + l.split(":")[1].split(" (")[0] for l in proc.stdout.splitlines()] \
        == ["malformed: SHA256SUMS line 3", "refused: etc", "refused: pipe", "refused: sub/root"]
    assert "FAILED verification (4 problem(s))" in proc.stderr


def test_the_sums_writer_refuses_links_and_fifos_naming_each(run_dir, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    (run_dir / "link.txt").symlink_to(outside)
    os.mkfifo(run_dir / "pipe")
    before = (run_dir / "SHA256SUMS").read_bytes()
    with pytest.raises(UsageError) as err:
        within_deadline(bundle.write_sums, run_dir)
    message = str(err.value)
    assert f"link.txt (a symbolic link to {outside}" in message and "pipe (a FIFO" in message
    assert (run_dir / "SHA256SUMS").read_bytes() == before


def test_the_sums_writer_never_writes_through_a_planted_link(run_dir, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("do not overwrite")
    (run_dir / "SHA256SUMS").unlink()
    (run_dir / "SHA256SUMS").symlink_to(victim)
    with pytest.raises(UsageError, match="SHA256SUMS"):
        bundle.write_sums(run_dir)
    assert victim.read_text() == "do not overwrite"
    # the atomic writer replaces the link itself
    safefs.write_text(run_dir, "SHA256SUMS", "new\n")
    assert victim.read_text() == "do not overwrite" and not (run_dir / "SHA256SUMS").is_symlink()


def test_signing_refuses_a_bundle_holding_a_link(run_dir, tmp_path):
    key, _ = signing.keygen(tmp_path / "k")
    (run_dir / "etc").symlink_to("/etc")
    with pytest.raises(UsageError, match=r"refusing to sign .* etc \(a symbolic link to /etc"):
        signing.sign_bundle(run_dir, key, {"run_id": "x"})


def test_the_bundle_directory_itself_may_be_a_link(run_dir):
    latest = run_dir.parent / "latest"
    latest.symlink_to(run_dir.name)
    assert bundle.verify(latest).ok


def test_a_directory_swapped_for_a_link_after_listing_is_not_followed(run_dir):
    (run_dir / "sub").mkdir()
    (run_dir / "sub" / "a.txt").write_text("a")
    bundle.write_sums(run_dir)
    (run_dir / "sub" / "a.txt").unlink()
    (run_dir / "sub").rmdir()
    (run_dir / "sub").symlink_to("/etc")
    with pytest.raises(safefs.Refused, match="sub .a symbolic link to /etc"):
        safefs.open_regular(run_dir, "sub/a.txt")
    with pytest.raises(safefs.Refused, match="outside the bundle"):
        safefs.open_regular(run_dir, "../fixture1/results.json")


def test_build_refuses_a_bundle_holding_a_fifo_or_a_link_without_blocking_or_writing_through(run_dir, tmp_path):
    victim = tmp_path / "victim.html"
    victim.write_text("do not overwrite")
    (run_dir / "index.html").unlink()
    (run_dir / "index.html").symlink_to(victim)
    with pytest.raises(UsageError, match=r"index.html \(a symbolic link to .*refusing to rebuild it"):
        within_deadline(bundle.build, run_dir)
    (run_dir / "index.html").unlink()
    os.mkfifo(run_dir / "results.json.new")
    with pytest.raises(UsageError, match=r"results.json.new \(a FIFO.*refusing to add a diff to it"):
        within_deadline(bundle.add_diff, run_dir, {"changes": []})
    assert victim.read_text() == "do not overwrite"


def test_writing_a_bundle_replaces_a_planted_link_instead_of_writing_through_it(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("do not overwrite")
    directory = tmp_path / "b"
    directory.mkdir()
    (directory / "index.html").symlink_to(victim)
    bundle.write_bundle(directory, json.loads(ASSET.read_text()))
    assert victim.read_text() == "do not overwrite"
    assert not (directory / "index.html").is_symlink() and bundle.verify(directory).ok
