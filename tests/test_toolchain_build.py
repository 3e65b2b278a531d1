import subprocess

import pytest

from gopitfalls import build
from gopitfalls.build import BuildError, parse_compiler_output
from gopitfalls.toolchain import ToolchainError, find_go


def test_finds_go_127():
    go = find_go()
    assert go.version.startswith("go1.27")
    assert go.binary.exists() and go.gofmt.exists()


def test_explicit_bad_go_is_a_clear_error(monkeypatch, tmp_path):
    find_go.cache_clear()
    monkeypatch.setenv("GOPITFALLS_GO", str(tmp_path / "nope"))
    try:
        with pytest.raises(ToolchainError, match="GOPITFALLS_GO=.*not a working go binary"):
            find_go()
    finally:
        monkeypatch.delenv("GOPITFALLS_GO")
        find_go.cache_clear()


def test_build_injects_probe_and_is_static(hostile):
    binary = build(hostile("listen_all"))
    file_out = subprocess.run(["file", str(binary.path)], capture_output=True, text=True).stdout
    assert "statically linked" in file_out
    strings = binary.path.read_bytes()
    assert b"gopitfallsProbeLoop" in strings  # the probe is in the binary...
    source = (hostile("listen_all") / "main.go").read_text()
    assert "gopitfalls" not in source  # ...but not in the program's source


def test_rebuild_of_unchanged_program_is_fast(hostile):
    build(hostile("endless_loop"))
    again = build(hostile("endless_loop"))
    assert again.build_seconds < 1.0


def test_compile_error_reports_file_line_and_source(hostile):
    with pytest.raises(BuildError) as info:
        build(hostile("compile_error"))
    err = info.value
    assert len(err.errors) == 1
    e = err.errors[0]
    assert e.file.endswith("compile_error/main.go") and e.line == 7
    text = str(err)
    assert "main.go:7" in text and 'var count int = "three"' in text
    assert "gopitfalls_probe" not in text
    # IPython shows this instead of a traceback
    assert err._render_traceback_()[0].startswith("\x1b[31mBuildError")


@pytest.mark.parametrize("name, hint", [
    ("not_main", "package main"),
    ("no_main", "func main()"),
])
def test_not_a_program_names_the_fix(hostile, name, hint):
    with pytest.raises(BuildError, match="Fix: .*" + hint.replace("(", r"\(").replace(")", r"\)")):
        build(hostile(name))


def test_missing_directory(tmp_path):
    with pytest.raises(BuildError, match="not a directory"):
        build(tmp_path / "missing")


def test_parse_compiler_output_resolves_relative_paths(tmp_path):
    (tmp_path / "main.go").write_text("package main\n\nfunc main() {\n\tx\n}\n")
    out = "# lab\n./main.go:4:2: x (variable of type int) is not used\n"
    [e] = parse_compiler_output(out, tmp_path)
    assert e.file == str(tmp_path / "main.go") and e.line == 4 and e.column == 2
    assert (4, "\tx") in e.context
