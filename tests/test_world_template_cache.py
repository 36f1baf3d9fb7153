"""World templates compiled once and kept on disk (Jinja's bytecode cache): a world
rendered from cached bytecode is identical to one compiled afresh, the second process
does not compile, and a broken cache file or a failing cache folder only means
compiling again."""

from __future__ import annotations

import jinja2
import pytest

from corpsim import worlddef
from corpsim.conditions import parse as parse_condition

CONDITIONS = ["blackmail_explicit-america_replacement", "murder_none-none_restriction"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A bytecode cache in ``tmp_path``, and no template compiled in this process yet."""
    bcc = jinja2.FileSystemBytecodeCache(str(tmp_path), pattern="__corpsim_%s.cache")
    monkeypatch.setattr(worlddef, "_bytecode_cache", lambda: bcc)
    worlddef._template.cache_clear()
    yield tmp_path
    worlddef._template.cache_clear()


def _worlds() -> list[worlddef.WorldSpec]:
    return [worlddef.build(parse_condition(c), mode=m, procedural=p, seed=7)
            for c in CONDITIONS for m in ("interactive", "single_turn") for p in (False, True)]


def _compiles(monkeypatch) -> list[str]:
    seen: list[str] = []
    real = jinja2.Environment.compile

    def counting(self, source, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(source)
        return real(self, source, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return seen


def test_worlds_from_cached_bytecode_equal_freshly_compiled_ones(cache, monkeypatch):
    monkeypatch.setattr(worlddef, "_bytecode_cache", lambda: None)
    worlddef._template.cache_clear()
    fresh = _worlds()  # no cache at all: from_string, as before the cache existed
    bcc = jinja2.FileSystemBytecodeCache(str(cache), pattern="__corpsim_%s.cache")
    monkeypatch.setattr(worlddef, "_bytecode_cache", lambda: bcc)

    worlddef._template.cache_clear()
    compiled = _compiles(monkeypatch)
    cold = _worlds()
    assert compiled, "a cold cache compiles"
    assert len(list(cache.glob("__corpsim_*.cache"))) == len(set(compiled))

    worlddef._template.cache_clear()  # a new process: only the files are left
    compiled.clear()
    warm = _worlds()
    assert compiled == [], "every template came from the cache"
    assert repr(fresh) == repr(cold) == repr(warm)


def test_a_corrupt_or_stale_cache_file_is_compiled_again(cache, monkeypatch):
    want = repr(_worlds())
    for f in cache.glob("__corpsim_*.cache"):
        f.write_bytes(b"not bytecode")
    worlddef._template.cache_clear()
    compiled = _compiles(monkeypatch)
    assert repr(_worlds()) == want
    assert compiled


def test_a_cache_that_cannot_be_written_still_renders(cache, monkeypatch):
    want = repr(_worlds())

    def refuse(bucket):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    bcc = jinja2.FileSystemBytecodeCache(str(cache / "empty"), pattern="__corpsim_%s.cache")
    (cache / "empty").mkdir()
    monkeypatch.setattr(bcc, "dump_bytecode", refuse)
    monkeypatch.setattr(worlddef, "_bytecode_cache", lambda: bcc)
    worlddef._template.cache_clear()
    assert repr(_worlds()) == want


def test_a_template_syntax_error_reads_as_before(cache):
    broken = "Dear {{ p.kyle.name "
    with pytest.raises(jinja2.TemplateSyntaxError) as before:
        worlddef._jinja().from_string(broken)
    with pytest.raises(worlddef.WorldDefinitionError) as now:
        worlddef._render(broken, {}, "worlds/x.yaml")
    assert str(now.value) == f"worlds/x.yaml: template error: {before.value}"
    assert list(cache.glob("__corpsim_*.cache")) == []
