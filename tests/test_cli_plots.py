import subprocess
import sys

import matplotlib
import psutil

matplotlib.use("Agg")

from gopitfalls import cli  # noqa: E402
from gopitfalls.plots import compare, plot_run  # noqa: E402

from .test_engine_units import make_run  # noqa: E402


def test_plots_draw_both_runs_aligned_on_load_start():
    broken = make_run([1, 5, 9, 13], load_at=(0.5, 1.5), label="x/broken")
    fixed = make_run([1, 1, 1, 1], load_at=(1.0, 2.0), label="x/fixed")
    fig = compare(broken, fixed, ["goroutines", "expvar.hits"])
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines[:2]] == ["broken", "fixed"] or \
        {"broken", "fixed"} <= {ln.get_label() for ln in lines}
    first_x = [ln.get_xdata()[0] for ln in lines if ln.get_label() in ("broken", "fixed")]
    assert first_x == [-0.5, -1.0]  # t=0 is the start of load in both
    assert ax.get_xlabel() == "seconds since load started"
    fig2 = plot_run(broken, ["goroutines"])
    assert fig2.axes[0].get_ylabel() == "goroutines"


def test_cli_list_and_errors(capsys):
    assert cli.main(["list"]) == 0
    assert "02-http-client-timeouts" in capsys.readouterr().out
    assert cli.main(["run", "99"]) == 2
    assert "no lesson" in capsys.readouterr().err


def test_cli_doctor_and_run():
    out = subprocess.run([sys.executable, "-m", "gopitfalls.cli", "doctor"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "go1.27" in out.stdout and "local:  available" in out.stdout
    assert "gpu:     PyTorch" in out.stdout or "gpu:     PyTorch is not installed" in out.stdout
    out = subprocess.run([sys.executable, "-m", "gopitfalls.cli", "run", "03", "--variant",
                          "fixed", "--backend", "local", "--rate", "50", "--duration-s", "1"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "03-context-goroutine-leak/fixed on local" in out.stdout
    assert "goroutines" in out.stdout and "load: sent 50" in out.stdout


def test_doctor_says_where_the_gpu_labs_run(monkeypatch):
    from importlib import metadata

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", lambda name: "2.13.0+cpu")
    monkeypatch.setenv("GOPITFALLS_DEVICE", "cpu")
    if __import__("importlib").util.find_spec("torch"):
        assert cli.gpu_labs_line(import_torch=True).startswith(
            "PyTorch 2.13.0+cpu; the GPU labs run on CPU, ")
    assert "gopitfalls doctor` says which device" in cli.gpu_labs_line(import_torch=False)
    monkeypatch.setattr(metadata, "version", missing)
    assert "not installed: labs gpu-01 to gpu-03 need it" in cli.gpu_labs_line(True)


def test_lab_serves_the_course_notebooks(tmp_path):
    """`gopitfalls lab` (the README's first command) starts JupyterLab on the course."""
    import json
    import time
    import urllib.request

    from gopitfalls.network import free_port

    port = free_port()
    env = {**__import__("os").environ, "JUPYTER_RUNTIME_DIR": str(tmp_path),
           "JUPYTER_CONFIG_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "gopitfalls.cli", "lab", "--no-browser",
                             f"--port={port}", "--ServerApp.token=t0k"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        listing = None
        while time.monotonic() < deadline and listing is None:
            try:
                url = f"http://127.0.0.1:{port}/api/contents/notebooks?token=t0k"
                with urllib.request.urlopen(url, timeout=2) as r:
                    listing = json.load(r)
            except OSError:
                time.sleep(0.5)
        assert listing is not None, "JupyterLab did not answer within 60 s"
        names = {item["name"] for item in listing["content"]}
        assert "02-http-client-timeouts.ipynb" in names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token=t0k", timeout=5) as r:
            assert r.status == 200
        # It opens on the course map: the server's start page is the map, in JupyterLab.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/?token=t0k", timeout=5) as r:
            assert r.status == 200 and r.url.split("?")[0].endswith("/lab/tree/course-map.ipynb")
        # No "get notified about Jupyter news?" prompt: the course's settings overrides
        # make "Never" the default a learner starts from.
        url = (f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/apputils-extension:"
               "notification?token=t0k")
        with urllib.request.urlopen(url, timeout=5) as r:
            schema = json.load(r)["schema"]["properties"]
        assert schema["fetchNews"]["default"] == "false"
        assert schema["checkForUpdates"]["default"] is False
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    # SIGTERM to `gopitfalls lab` must stop the server itself, not orphan it
    left = [p.pid for p in psutil.process_iter(["cmdline"])
            if f"--port={port}" in " ".join(p.info["cmdline"] or [])]
    assert left == [], f"JupyterLab still running after SIGTERM: pids {left}"


def test_lesson_events_of_both_runs_are_marked_and_rates_labelled():
    broken = make_run([1, 5, 9, 13], load_at=(0.5, 1.5), label="x/broken")
    fixed = make_run([1, 1, 1, 1], load_at=(1.0, 2.0), label="x/fixed")
    broken.events.append((1.0, "hot key expired"))
    fixed.events.append((1.7, "hot key expired"))
    ax = compare(broken, fixed, ["goroutines"]).axes[0]
    marks = {(round(text.xy[0], 2), text.get_text()) for text in ax.texts}
    assert {(0.5, "hot key expired"), (0.7, "hot key expired (fixed)")} <= marks
    assert plot_run(broken, ["expvar.hits/s"]).axes[0].get_ylabel() == "hits per s"
