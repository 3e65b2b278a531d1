"""Layer 11: the ``gopitfalls`` command.

  gopitfalls lab [--course DIR]  open JupyterLab on the course (a writable copy of it, laid
                                 out in DIR or ~/gopitfalls-course, when not in a checkout)
  gopitfalls course DIR          lay out a writable copy of the course in DIR
  gopitfalls list                the lessons
  gopitfalls run SLUG --variant broken|fixed [--scenario NAME] [--backend docker|local]
  gopitfalls check LAB [--backend docker|local]  build your lab, run it, judge it
  gopitfalls hint LAB            the next hint for the check your lab failed last
  gopitfalls progress            which labs pass
  gopitfalls reset LAB [--yes]   put the starter back (your version is kept as a backup)
  gopitfalls warm                build every Go program the course runs, ahead of time
  gopitfalls class --learners N  a class on one JupyterHub on this machine
  gopitfalls book [--out DIR] [--lessons 03,07] [--replay RUNS]  every lesson executed into
                                 a static site, its runs saved in DIR/runs (--replay: drawn
                                 from saved runs, nothing built or started)
  gopitfalls doctor              what this machine can do
  gopitfalls clean               remove everything the engine left behind
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path


def _cmd_list(args) -> int:
    from .course import course_root, lessons

    catalog = lessons()
    for lsn in catalog.values():
        scenarios = ", ".join(lsn.scenarios)
        print(f"{lsn.slug:42s} ch.{lsn.chapter}  {lsn.title}  [{scenarios}]")
    print(f"{len(catalog)} lessons in {course_root()}")
    return 0


def _cmd_course(args) -> int:
    _lay_out(args.dir)
    return 0


def _lay_out(dest):
    from .course import lay_out_course

    report = lay_out_course(dest)
    print(f"course in {report.root}: {len(report.copied)} files copied", flush=True)
    if report.kept:
        print(f"  kept your version of {len(report.kept)} file(s) that differ from this release:"
              f" {', '.join(report.kept[:5])}{' ...' if len(report.kept) > 5 else ''}")
    return report.root


def _cmd_run(args) -> int:
    from .course import lesson

    lsn = lesson(args.slug)
    overrides = {}
    for key in ("rate", "duration_s", "concurrency", "memory_mb", "nofile"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.race:
        overrides["race"] = True
    result = lsn.run(args.variant, args.scenario, backend=args.backend, **overrides)
    print(result.summary())
    for name in ("goroutines", "fds", "rss"):
        vals = result.values(name)
        if vals:
            scale = 2**20 if name == "rss" else 1
            print(f"  {name:10s} start {vals[0] / scale:8.0f}  peak {max(vals) / scale:8.0f}"
                  f"  final {vals[-1] / scale:8.0f}" + ("  (MB)" if name == "rss" else ""))
    for key, value in (result.params.get("env") or {}).items():
        print(f"  env {key}={value}")
    s = result.load_summary
    if s:
        print(f"  load: sent {s.get('sent')}  ok {s.get('ok')}  errors {s.get('errors')}  "
              f"status {s.get('status')}  p99 {s.get('p99_ms', 0):.0f} ms")
    if args.save:
        print(f"  saved to {result.save(args.save)}")
    return 0


def _cmd_check(args) -> int:
    from .labs import lab

    the_lab = lab(args.lab)
    program = args.program or the_lab.folder
    print(f"checking {program} (build, then the runs of {the_lab.slug}/checks.py) ...",
          flush=True)
    result = the_lab.check(args.program, backend=args.backend, record=args.program is None)
    print(result)
    return 0 if result.passed else 1


def _cmd_hint(args) -> int:
    from .labs import lab

    print(lab(args.lab).hint())
    return 0


def _cmd_progress(args) -> int:
    from .labs import Progress

    progress = Progress()
    rows = progress.table()
    for slug, state in rows:
        print(f"{slug:42s} {state}")
    done = sum(state == "passed" for _, state in rows)
    print(f"{done} of {len(rows)} labs passed (kept in {progress.path})")
    return 0


def _cmd_reset(args) -> int:
    from .labs import lab

    the_lab = lab(args.lab)
    files = ", ".join(str(the_lab.folder / f) for f in the_lab.files)
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"gopitfalls: reset would replace {files} with the starter; run it in a "
                  "terminal to answer, or pass --yes", file=sys.stderr)
            return 2
        answer = input(f"Replace {files} with the starter? Your version is kept as a backup "
                       "beside it. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing changed")
            return 1
    for backup in the_lab.reset():
        print(f"your version is kept in {backup}")
    print(f"{the_lab.slug}: the starter is back in {the_lab.folder}")
    return 0


def _cmd_warm(args) -> int:
    from .warm import warm

    warm(lambda line: print(line, flush=True), while_alive=args.while_alive)
    return 0  # a lab that does not compile (being edited) is reported, not an error


def _cmd_doctor(args) -> int:
    return 0 if doctor() else 1


def doctor(start_servers: bool = True) -> bool:
    """Print what this machine can do: Go, each backend and what it enforces, a C compiler
    for -race builds, chapter 3's servers (started once, or with ``start_servers=False``
    only looked for: the course map's quick version), the backend in use. True if the
    lessons can run."""
    import shutil

    from . import backends
    from .toolchain import ToolchainError, find_go

    ok = True
    try:
        go = find_go()
        print(f"go:      {go.version} ({go.source}: {go.binary})")
    except ToolchainError as exc:
        print(f"go:      MISSING - {exc}")
        ok = False
    limits = backends.Limits()
    for name in ("docker", "local"):
        try:
            be = backends.get_backend(name)
        except backends.BackendUnavailable as exc:
            print(f"{name}:  unavailable - {exc}")
            continue
        print(f"{name}:  available")
        for what, how in be.enforcement(limits).items():
            print(f"    {what:10s} {how}")
    compiler = shutil.which("gcc") or shutil.which("clang")  # what cgo calls
    print(f"race:    {compiler} builds the -race runs" if compiler else
          "race:    no C compiler: the -race runs cannot build (apt-get install gcc)")
    from .datastores import DatastoreError, postgres_bin_dir, redis_bin_dir
    from .datastores import check as check_datastores

    if start_servers:
        servers = check_datastores()  # chapter 3's servers, started once
    else:
        servers = {}
        for name, bin_dir in (("postgres", postgres_bin_dir), ("redis", redis_bin_dir)):
            try:
                servers[name] = (f"installed ({bin_dir()}); `gopitfalls doctor` starts it "
                                 "once to be sure")
            except DatastoreError as exc:
                servers[name] = f"cannot start - {exc}"
    for name, line in servers.items():
        print(f"{name}: {line}")
        ok = ok and not line.startswith("cannot start")
    print(f"gpu:     {gpu_labs_line(import_torch=start_servers)}")
    chosen = os.environ.get("GOPITFALLS_BACKEND") or "auto"
    try:
        print(f"backend: {backends.get_backend(None).name} is used (GOPITFALLS_BACKEND={chosen})")
    except backends.BackendUnavailable as exc:
        print(f"backend: none usable - {exc}")
        ok = False
    return ok


def gpu_labs_line(import_torch: bool) -> str:
    """Where chapter 5's GPU labs run here. Importing PyTorch takes seconds, so the quick
    version (``import_torch=False``) only says whether it is installed."""
    from importlib import metadata

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return ("PyTorch is not installed: labs gpu-01 to gpu-03 need it (the gpu extra; "
                "Colab has it), gpu-04 runs without it")
    if not import_torch:
        return f"PyTorch {version}; `gopitfalls doctor` says which device the GPU labs use"
    from .inference import device

    found = device()
    where = "" if found.kind == "cuda" else " (smaller sizes; every figure says CPU)"
    return f"PyTorch {version}; the GPU labs run on {found.label}{where}"


def _cmd_clean(args) -> int:
    from . import registry
    from .backends.docker import remove_images

    removed = registry.reap(only_dead_owners=False)
    for line in removed:
        print(f"removed {line}")
    images = remove_images()
    print(f"clean: {len(removed)} leftovers and {images} images removed")
    return 0


def _cmd_book(args) -> int:
    from .book import write_book

    out = Path(args.out)
    pages = write_book(out, args.lessons.split(",") if args.lessons else None,
                       Path(args.replay) if args.replay else None)
    failed = [p.lesson.slug for p in pages if p.error]
    where = "" if args.replay else f", runs saved in {out / 'runs'}"
    print(f"book: {len(pages) - len(failed)} of {len(pages)} lessons written to "
          f"{out / 'index.html'}{where}")
    if failed:
        print(f"book: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def install_jupyter_overrides() -> Path:
    """The course's JupyterLab settings overrides (no news prompt, no update check), in this
    environment's JupyterLab settings: a wheel installs them, an editable install does not."""
    source = Path(__file__).parent / "jupyter_settings" / "gopitfalls.json"
    target = Path(sys.prefix) / "share/jupyter/lab/settings/overrides.d/gopitfalls.json"
    if not target.exists() or target.read_bytes() != source.read_bytes():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    return target


def _warm_in_background(root: Path) -> None:
    """Build the course's programs while the learner reads the first lesson."""
    from .toolchain import ToolchainError, find_go
    from .warm import start_in_background

    try:
        find_go()
    except ToolchainError:
        return  # nothing to build with; the first run will say why
    log = start_in_background(root)
    print(f"building the course's Go programs in the background (log: {log})", flush=True)


def _cmd_lab(args) -> int:
    from .course import COURSE_MAP, bundled_course, course_root, default_working_copy

    if args.course:
        root = _lay_out(args.course)
    else:
        root = course_root()
        if root == bundled_course():  # read-only inside the install: give the learner a copy
            root = _lay_out(default_working_copy())
    install_jupyter_overrides()
    # It opens on the course map (an older working copy may not have one yet). LabApp, not
    # ServerApp: `jupyter lab` sets the server's default_url from its own.
    start = [f"--LabApp.default_url=/lab/tree/{COURSE_MAP}"] if (
        root / COURSE_MAP).is_file() else []
    _warm_in_background(root)
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={root}",
           "--ip=127.0.0.1", *start, *args.jupyter_args]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
        cmd.append("--allow-root")
    print("starting JupyterLab on", root / "notebooks", flush=True)
    if os.name == "posix":
        # JupyterLab takes this process's place, so a SIGTERM or Ctrl-C sent to
        # `gopitfalls lab` reaches it and it shuts its kernels down: no orphaned server.
        os.execv(sys.executable, cmd)
    return subprocess.call(cmd)


def _cmd_class(args) -> int:
    import signal

    from .classroom import ClassroomError, Hub

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGINT):  # either one stops the class
        signal.signal(sig, interrupt)
    names = [f"learner{i}" for i in range(1, args.learners + 1)]
    root = Path(args.root).expanduser()
    try:
        hub = Hub(root, names, password=args.password, port=args.port,
                  log=sys.stdout.buffer if args.verbose else None)
    except ClassroomError as e:
        print(f"gopitfalls class: {e}", file=sys.stderr)
        return 1
    with hub:
        print(f"JupyterHub for {len(names)} learners: {hub.url}/ (this machine only; reach it "
              f"from elsewhere with an SSH tunnel or a reverse proxy)")
        print(f"  users {names[0]} .. {names[-1]}, shared password: {hub.password}")
        print(f"  homes in {root / 'home'}, hub log {root / 'hub' / 'hub.log'}; Ctrl-C stops "
              "the hub and every learner's server", flush=True)
        try:
            hub.process.wait()
        except KeyboardInterrupt:
            pass
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gopitfalls", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("lab", help="open JupyterLab on the course (other options go to Jupyter)")
    p.add_argument("--course", metavar="DIR",
                   help="lay out (or reuse) a writable copy of the course in DIR and open it")
    p.set_defaults(func=_cmd_lab)
    p = sub.add_parser("course", help="lay out a writable copy of the course in DIR (files "
                                      "already there are kept)")
    p.add_argument("dir")
    p.set_defaults(func=_cmd_course)
    sub.add_parser("list", help="list the lessons").set_defaults(func=_cmd_list)
    p = sub.add_parser("run", help="run one lesson variant and print what was measured")
    p.add_argument("slug")
    p.add_argument("--variant", choices=("broken", "fixed"), default="broken")
    p.add_argument("--scenario", default="default")
    p.add_argument("--backend", choices=("docker", "local"))
    p.add_argument("--rate", type=float)
    p.add_argument("--duration-s", dest="duration_s", type=float)
    p.add_argument("--concurrency", type=int, help="closed-model workers")
    p.add_argument("--memory-mb", dest="memory_mb", type=int)
    p.add_argument("--nofile", type=int, help="open-file limit of the program")
    p.add_argument("--race", action="store_true", help="build with the race detector")
    p.add_argument("--save", help="save the Run as JSON (.json or .json.gz)")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("check", help="build your lab, run it under its trigger and judge it")
    p.add_argument("lab", help="the lab's slug or number (03)")
    p.add_argument("--backend", choices=("docker", "local"))
    p.add_argument("--program", metavar="DIR",
                   help="check another folder in place of labs/LAB (not kept in progress)")
    p.set_defaults(func=_cmd_check)
    p = sub.add_parser("hint", help="the next hint for the check your lab failed last")
    p.add_argument("lab")
    p.set_defaults(func=_cmd_hint)
    sub.add_parser("progress", help="which labs pass").set_defaults(func=_cmd_progress)
    p = sub.add_parser("reset", help="put a lab's starter back (asks; keeps a backup)")
    p.add_argument("lab")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.set_defaults(func=_cmd_reset)
    p = sub.add_parser("warm", help="build every Go program of the course ahead of time")
    p.add_argument("--while-alive", type=int, metavar="PID", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_warm)
    p = sub.add_parser("class", help="a class on one JupyterHub on this machine")
    p.add_argument("--learners", type=int, default=3, help="learner1..N (default 3)")
    p.add_argument("--root", default="~/gopitfalls-class",
                   help="the learners' homes and the hub's files (default ~/gopitfalls-class)")
    p.add_argument("--password", help="the shared password (default: a random one, printed)")
    p.add_argument("--port", type=int, help="the hub's port on 127.0.0.1 (default: a free one)")
    p.add_argument("--verbose", action="store_true", help="the hub's log on this terminal")
    p.set_defaults(func=_cmd_class)
    p = sub.add_parser("book", help="execute every lesson into a static HTML site, saving its "
                                    "runs (or replay saved runs: no Go needed)")
    p.add_argument("--out", default="gopitfalls-book", metavar="DIR",
                   help="where the site goes (default: ./gopitfalls-book; runs in DIR/runs)")
    p.add_argument("--lessons", metavar="03,07", help="only these lessons (numbers or slugs)")
    p.add_argument("--replay", metavar="RUNS",
                   help="draw from the runs saved in RUNS (a book's DIR/runs): nothing runs")
    p.set_defaults(func=_cmd_book)
    sub.add_parser("doctor", help="what this machine can do").set_defaults(func=_cmd_doctor)
    sub.add_parser("clean", help="remove leftovers").set_defaults(func=_cmd_clean)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.jupyter_args = extra
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear one-line error, not a traceback
        from .backends import BackendUnavailable
        from .build import BuildError
        from .course import CourseNotFound
        from .labs import LabNotFound
        from .toolchain import ToolchainError

        if isinstance(exc, (BuildError, BackendUnavailable, ToolchainError, CourseNotFound,
                            LabNotFound, KeyError)):
            print(f"gopitfalls: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
