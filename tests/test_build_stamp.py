"""A build whose inputs did not change does not invoke Go; any change to what it reads does,
and builds of one output wait for each other."""

import fcntl
import importlib
import subprocess
import threading

import pytest

from gopitfalls.build import build

building = importlib.import_module("gopitfalls.build")  # the module (the package exports build())

GREETING = 'package greet\n\nfunc Hello() string {{ return "{}" }}\n'


@pytest.fixture
def app(tmp_path):
    """A program whose module imports an internal package of another module through a
    local ``replace``, the way a lab imports the samples' internal clients."""
    lib, app = tmp_path / "lib", tmp_path / "lib-app"
    (lib / "internal" / "greet").mkdir(parents=True)
    (lib / "go.mod").write_text("module example.com/lib\n\ngo 1.27\n")
    (lib / "internal" / "greet" / "greet.go").write_text(GREETING.format("hello"))
    app.mkdir()
    (app / "go.mod").write_text("module example.com/lib/app\n\ngo 1.27\n\n"
                                "require example.com/lib v0.0.0\n\n"
                                "replace example.com/lib => ../lib\n")
    (app / "main.go").write_text('package main\n\nimport (\n\t"fmt"\n\n'
                                 '\t"example.com/lib/internal/greet"\n)\n\n'
                                 "func main() { fmt.Println(greet.Hello()) }\n")
    return app


@pytest.fixture
def go_calls(monkeypatch):
    """The ``go build`` commands run from now on."""
    calls = []
    real_run = subprocess.run

    def counting_run(cmd, *args, **kwargs):
        if cmd[1:2] == ["build"]:
            calls.append(cmd)
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(building.subprocess, "run", counting_run)
    return calls


def _output(binary) -> str:
    return subprocess.run([str(binary.path)], capture_output=True, text=True,
                          timeout=10).stdout.strip()


def test_unchanged_skips_go_and_an_edited_import_rebuilds(app, go_calls):
    first = build(app, probe=False)
    assert _output(first) == "hello" and len(go_calls) == 1
    again = build(app, probe=False)
    assert again.path == first.path and len(go_calls) == 1  # go was not invoked
    assert again.build_seconds < 0.5
    greet = app.parent / "lib" / "internal" / "greet" / "greet.go"
    greet.write_text(GREETING.format("bonjour"))  # a file of the replaced module
    assert _output(build(app, probe=False)) == "bonjour" and len(go_calls) == 2
    build(app, probe=False, ldflags="-s")  # another flag: another binary
    assert len(go_calls) == 3


def test_a_binary_changed_behind_the_stamp_is_rebuilt(app, go_calls):
    binary = build(app, probe=False)
    program = binary.path.read_bytes()
    binary.path.write_bytes(program[: len(program) // 2])  # as a build killed half-way leaves it
    assert _output(build(app, probe=False)) == "hello" and len(go_calls) == 2


def test_builds_of_one_output_wait_for_each_other(app):
    binary = build(app, probe=False)
    done = threading.Event()
    with open(binary.path.with_name(binary.path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process is building this output
        waiter = threading.Thread(target=lambda: (build(app, probe=False), done.set()))
        waiter.start()
        assert not done.wait(0.5)
    waiter.join(10)
    assert done.is_set()
