"""Redactor cases that kill mutmut's survivors (issue 8, item 4); see bench/MUTATION.md.

Each test uses its own `Redactor` (never the process-wide one) and fake secret values, and states what is
masked: the text, headers, JSON-like data, log records, exceptions and files below a directory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from infracore_verify.redact import (
    MASK,
    MTIME_SLACK_NS,
    HiddenEnviron,
    Redactor,
    TreeSnapshot,
    child_environ,
    install_log_masking,
    mask_exception,
    mask_record,
    rewrite_masked,
    scrub_tree,
)

SECRET = "FAKE-mut-secret-7d1c"
OTHER = "FAKE-mut-other-42ab"


@pytest.fixture
def redactor() -> Redactor:
    """A private redactor that knows SECRET (label `token`)."""
    r = Redactor()
    r.register(SECRET, "token")
    return r


@pytest.fixture
def plain_log_records() -> Iterator[None]:
    """Start from logging's own record factory and put back whatever was installed before."""
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    yield
    logging.setLogRecordFactory(previous)


class _Keep(logging.Handler):
    """Keeps the records it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_default_label_is_secret() -> None:
    """A value registered without a label is masked as `[REDACTED:secret]`."""
    r = Redactor()
    r.register(SECRET)
    assert r.mask(f"a {SECRET} b") == "a [REDACTED:secret] b"


def test_a_secret_containing_another_is_masked_whole() -> None:
    """Longest first: a registered value that starts with a shorter registered one leaves no tail behind."""
    r = Redactor()
    r.register("FAKE-short", "short")
    r.register("FAKE-short-and-longer", "long")
    assert r.mask("x FAKE-short-and-longer y FAKE-short z") == "x [REDACTED:long] y [REDACTED:short] z"
    r2 = Redactor()
    r2.register("FAKE-short-and-longer", "long")
    r2.register("FAKE-short", "short")
    assert r2.mask("FAKE-short-and-longer") == "[REDACTED:long]"


def test_contains_secret(redactor: Redactor) -> None:
    """True only for text that holds a registered value; an empty registry finds nothing and never fails."""
    assert redactor.contains_secret(f"x{SECRET}x") is True
    assert redactor.contains_secret("nothing here") is False
    assert redactor.contains_secret("") is False
    assert Redactor().contains_secret(f"x{SECRET}x") is False


def test_forget_all_stops_masking(redactor: Redactor) -> None:
    """After forget_all, text passes unchanged and nothing counts as a secret."""
    redactor.forget_all()
    assert redactor.mask(f"a {SECRET}") == f"a {SECRET}"
    assert redactor.contains_secret(SECRET) is False
    assert SECRET not in redactor.values()


def test_mask_headers_takes_pairs_as_well_as_a_mapping(redactor: Redactor) -> None:
    """Auth headers are masked whatever their value, others are scrubbed, from a mapping or from pairs."""
    pairs = [("Authorization", "Bearer abcdef"), ("X-Trace", f"id {SECRET}"), ("Accept", "text/plain")]
    expected = {"Authorization": MASK, "X-Trace": "id [REDACTED:token]", "Accept": "text/plain"}
    assert redactor.mask_headers(pairs) == expected
    assert redactor.mask_headers(dict(pairs)) == expected


def test_mask_data_masks_sensitive_fields_and_header_names_but_not_empty_values(redactor: Redactor) -> None:
    """Secret-looking fields and header-named fields (any case) are masked; empty and null values stay."""
    data = {
        "password": "",
        "token": None,
        "X-Api-Key": "abc123",
        "X-Auth-Email": "ops@example.invalid",
        "items": [{"Cookie": "c=1"}, f"note {SECRET}"],
        "count": 3,
    }
    assert redactor.mask_data(data) == {
        "password": "",
        "token": None,
        "X-Api-Key": MASK,
        "X-Auth-Email": MASK,
        "items": [{"Cookie": MASK}, "note [REDACTED:token]"],
        "count": 3,
    }


def test_mask_exception_masks_msg_and_string_args(redactor: Redactor) -> None:
    """pytest.fail's `msg` and every string argument are masked; other arguments are kept as they are."""
    failed = pytest.fail.Exception(f"login with {SECRET} failed")
    mask_exception(failed, redactor)
    assert failed.msg == "login with [REDACTED:token] failed"
    assert SECRET not in str(failed)
    plain = ValueError(f"bad {SECRET}", 42, None)
    mask_exception(plain, redactor)
    assert plain.args == ("bad [REDACTED:token]", 42, None)


def test_log_masking_masks_records_and_installs_once(redactor: Redactor, plain_log_records: None) -> None:
    """Once installed, a log record's message is masked before any handler sees it; a second install is a no-op."""
    install_log_masking(redactor)
    factory = logging.getLogRecordFactory()
    install_log_masking(redactor)
    assert logging.getLogRecordFactory() is factory
    log = logging.getLogger("infracore-verify-test-mutation-redact")
    keep = _Keep()
    log.addHandler(keep)
    try:
        log.warning("token %s refused", SECRET)
        log.warning("nothing secret %s", 7)
    finally:
        log.removeHandler(keep)
    assert [r.getMessage() for r in keep.records] == ["token [REDACTED:token] refused", "nothing secret 7"]
    keyworded = factory(
        name="n", level=logging.INFO, pathname="p.py", lineno=1, msg="k %s", args=(SECRET,), exc_info=None
    )
    assert keyworded.getMessage() == "k [REDACTED:token]"


def test_scrub_tree_masks_every_file_below_and_counts_them(redactor: Redactor, tmp_path: Path) -> None:
    """Files in nested directories are scrubbed; a binary file is left alone (issue 9, item 6); the count is the
    files changed."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").mkdir()
    (tmp_path / "a" / "b" / "deep.json").write_text(f'{{"t": "{SECRET}"}}', encoding="utf-8")
    (tmp_path / "a" / "clean.txt").write_text("nothing", encoding="utf-8")
    (tmp_path / "z.bin").write_bytes(b"\xff\xfe " + SECRET.encode() + b" \x80end")
    assert scrub_tree(tmp_path, redactor) == 1
    assert (tmp_path / "a" / "b" / "deep.json").read_text(encoding="utf-8") == '{"t": "[REDACTED:token]"}'
    assert (tmp_path / "z.bin").read_bytes() == b"\xff\xfe " + SECRET.encode() + b" \x80end"
    assert (tmp_path / "a" / "clean.txt").read_text(encoding="utf-8") == "nothing"


def test_scrub_tree_without_secrets_or_directory_changes_nothing(tmp_path: Path) -> None:
    """No registered value, or no directory: zero files changed."""
    (tmp_path / "f.txt").write_text(f"x {SECRET}", encoding="utf-8")
    assert scrub_tree(tmp_path, Redactor()) == 0
    assert (tmp_path / "f.txt").read_text(encoding="utf-8") == f"x {SECRET}"
    r = Redactor()
    r.register(OTHER)
    assert scrub_tree(tmp_path / "missing", r) == 0


def test_scrub_tree_counts_every_changed_file(redactor: Redactor, tmp_path: Path) -> None:
    """Two files changed: the count is 2."""
    (tmp_path / "a.txt").write_text(f"x {SECRET}", encoding="utf-8")
    (tmp_path / "b.txt").write_text(f"y {SECRET}", encoding="utf-8")
    assert scrub_tree(tmp_path, redactor) == 2


def test_scrub_tree_rewrites_a_new_file_exactly_at_the_slack_boundary(redactor: Redactor, tmp_path: Path) -> None:
    """A file not in the snapshot whose mtime is exactly `started - slack` counts as written by this run."""
    snapshot = TreeSnapshot(started_ns=10 * MTIME_SLACK_NS, before=frozenset())
    edge = tmp_path / "edge.txt"
    edge.write_text(SECRET, encoding="utf-8")
    os.utime(edge, ns=(snapshot.started_ns - MTIME_SLACK_NS,) * 2)
    older = tmp_path / "older.txt"
    older.write_text(SECRET, encoding="utf-8")
    os.utime(older, ns=(snapshot.started_ns - MTIME_SLACK_NS - 1,) * 2)
    assert scrub_tree(tmp_path, redactor, since=snapshot) == 1
    assert edge.read_text(encoding="utf-8") == "[REDACTED:token]"
    assert older.read_text(encoding="utf-8") == SECRET


def test_scrub_tree_never_walks_a_symlinked_root(redactor: Redactor, tmp_path: Path) -> None:
    """A root that is a symlink to a folder is not followed: the folder's files stay as they are."""
    real = tmp_path / "real"
    real.mkdir()
    (real / "f.txt").write_text(SECRET, encoding="utf-8")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    assert scrub_tree(tmp_path / "link", redactor) == 0
    assert (real / "f.txt").read_text(encoding="utf-8") == SECRET


def test_scrub_tree_goes_on_after_a_file_vanishes(
    redactor: Redactor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file deleted between the listing and its stat is skipped; the folder's other files are scrubbed."""
    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / name).write_text(SECRET, encoding="utf-8")
    real_lstat = Path.lstat
    vanished: list[Path] = []

    def lstat(self: Path) -> os.stat_result:
        if not vanished and self.suffix == ".txt":
            vanished.append(self)
            raise FileNotFoundError(self)
        return real_lstat(self)

    monkeypatch.setattr(Path, "lstat", lstat)
    assert scrub_tree(tmp_path, redactor) == 2
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir() if p.read_text(encoding="utf-8") == SECRET) == [vanished[0].name]


def test_rewrite_masked_never_writes_through_a_symlink(redactor: Redactor, tmp_path: Path) -> None:
    """A symlink to a single-linked text file is refused; the target keeps its content."""
    target = tmp_path / "operator.env"
    target.write_text(f"TOKEN={SECRET}\n", encoding="utf-8")
    (tmp_path / "link.env").symlink_to(target)
    assert rewrite_masked(tmp_path / "link.env", redactor) is False
    assert target.read_text(encoding="utf-8") == f"TOKEN={SECRET}\n"


def test_rewrite_masked_leaves_a_file_with_nul_bytes_alone(redactor: Redactor, tmp_path: Path) -> None:
    """A file holding NUL bytes is binary even when it decodes as UTF-8: never rewritten."""
    blob = b"\0\0head " + SECRET.encode() + b" tail\0"
    path = tmp_path / "blob.dat"
    path.write_bytes(blob)
    assert rewrite_masked(path, redactor) is False
    assert path.read_bytes() == blob


def test_mask_record_masks_the_stack_and_keeps_it(redactor: Redactor) -> None:
    """A record's stack text is masked, not dropped."""
    record = logging.LogRecord("n", logging.INFO, "p.py", 1, "m", None, None, sinfo=f"Stack:\n  f({SECRET})")
    mask_record(record, redactor)
    assert record.stack_info == "Stack:\n  f([REDACTED:token])"


def test_hidden_environ_length_and_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    """`len` counts own and inherited names once each; the repr names the suite's variables, sorted, and
    whether the environment is inherited, never a value."""
    monkeypatch.setenv("IV_MUT_SHARED", "FAKE-inherited")
    env = HiddenEnviron({"IV_MUT_SHARED": "FAKE-own", "IV_MUT_B": "FAKE-b", "IV_MUT_A": "FAKE-a"})
    assert len(env) == len(set(os.environ) | set(env)) == len(list(env))
    assert (
        repr(env)
        == "HiddenEnviron(set: [IV_MUT_A, IV_MUT_B, IV_MUT_SHARED] + the inherited environment; values hidden)"
    )
    alone = HiddenEnviron({"IV_MUT_A": "FAKE-a"}, inherit=False)
    assert len(alone) == 1
    assert repr(alone) == "HiddenEnviron(set: [IV_MUT_A]; values hidden)"
    assert child_environ(None) is None
