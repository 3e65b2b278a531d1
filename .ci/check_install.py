"""Checks a non-editable install, as a learner gets it from a wheel or `pip install git+URL`.

Run by .ci/run with the python of a fresh virtual environment holding only the wheel and its
declared dependencies, from a folder outside the checkout:

    python .ci/check_install.py LESSON_COUNT WORK_DIR

It proves that every engine module and every notebook's imports load from the declared
dependencies alone, that the installed package carries the whole course, that a working copy
can be laid out and is then used, that a missing course is a clear error, and that one
lesson runs end to end from the install. Exits non-zero with the reason on any failure.
"""

import ast
import importlib
import json
import os
import pkgutil
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
LESSON = "02-http-client-timeouts"
LAB = "03-context-goroutine-leak"


def cli(*args: str, env: dict | None = None, expect_rc: int = 0) -> str:
    done = subprocess.run([str(BIN / "gopitfalls"), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)
    output = done.stdout + done.stderr
    if done.returncode != expect_rc:
        sys.exit(f"`gopitfalls {' '.join(args)}` exited {done.returncode}, not {expect_rc}:\n"
                 f"{output}")
    return output


def check(ok: bool, what: str) -> None:
    if not ok:
        sys.exit(f"FAILED: {what}")
    print(f"ok: {what}")


def notebook_imports(notebook: Path) -> list[str]:
    from gopitfalls.course import notebook_code

    return [ast.unparse(node) for node in ast.walk(ast.parse(notebook_code(notebook)))
            if isinstance(node, ast.Import | ast.ImportFrom)]


def lab_serves_a_working_copy(copy: Path, lesson_count: int) -> None:
    """`gopitfalls lab` from an install lays out the learner's copy and serves it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lab = subprocess.Popen(
        [str(BIN / "gopitfalls"), "lab", "--no-browser", f"--port={port}",
         "--ServerApp.token=ci", f"--ServerApp.runtime_dir={copy.parent / 'jupyter-runtime'}"],
        env={**os.environ, "GOPITFALLS_COURSE_DIR": str(copy)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/contents/notebooks?token=ci"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    served = {item["name"] for item in json.load(answer)["content"]}
                break
            except OSError:
                time.sleep(0.5)
        else:
            sys.exit("FAILED: `gopitfalls lab` did not answer within 60 s")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/?token=ci", timeout=5) as answer:
            start_page = answer.url.split("?")[0]
    finally:
        lab.terminate()
        lab.wait(timeout=30)
    check((copy / ".gopitfalls-course").exists() and
          len([n for n in served if n.endswith(".ipynb")]) == lesson_count,
          f"`gopitfalls lab` laid out {copy} and serves its {lesson_count} notebooks")
    check(start_page.endswith("/lab/tree/course-map.ipynb")
          and (copy / "course-map.ipynb").is_file(),
          "`gopitfalls lab` opens on the course map it laid out")


def labs_work_in_a_working_copy(copy: Path, bundled: Path) -> None:
    """check, hint, progress and reset, as a learner uses them in a laid-out course."""
    env = {"GOPITFALLS_HOME": str(copy), "GOPITFALLS_BACKEND": "local"}
    main_go = copy / "labs" / LAB / "main.go"
    starter = (bundled / "labs" / LAB / "main.go").read_text()
    failed = cli("check", LAB, env=env, expect_rc=1)
    check("✘ exports stop when the caller leaves" in failed and "hint 1 of" in failed,
          "`gopitfalls check` fails the starter with its first check and a hint")
    check(cli("hint", "03", env=env).startswith("hint 2 of"), "`gopitfalls hint` gives the next")
    main_go.write_text((bundled / "solutions" / LAB / "main.go").read_text())
    check("PASS" in cli("check", "03", env=env), "the reference answer passes")
    check(re.search(rf"{LAB}\s+passed", cli("progress", env=env)) is not None
          and (copy / ".gopitfalls-progress.json").exists(),
          "`gopitfalls progress` counts it, kept in the working copy")
    cli("reset", "03", "--yes", env=env)
    check(main_go.read_text() == starter and any(main_go.parent.glob("main.go.backup-*")),
          "`gopitfalls reset` puts the installed starter back and keeps a backup")


def main(lesson_count: int, work: Path) -> None:
    import gopitfalls

    here = Path(gopitfalls.__file__).parent
    check("site-packages" in str(here), f"gopitfalls is the installed copy ({here})")
    check("gopitfalls.course" not in sys.modules and "gopitfalls.backends" not in sys.modules,
          "`import gopitfalls` reads no catalog and loads no backend")
    modules = [m.name for m in pkgutil.walk_packages([str(here)], "gopitfalls.")]
    for name in modules:
        importlib.import_module(name)
    check(len(modules) >= 10, f"all {len(modules)} engine modules import")

    bundled = here / "course_files"
    notebooks = sorted((bundled / "notebooks").glob("*.ipynb"))
    check(len(notebooks) == lesson_count, f"the wheel carries {len(notebooks)} notebooks")
    check((bundled / "course-map.ipynb").is_file(), "the wheel carries the course map")
    labs = sorted((bundled / "labs").glob("*/lab.toml"))
    solutions = sorted((bundled / "solutions").glob("*/NOTES.md"))
    check(len(labs) == len(solutions) == lesson_count,
          f"the wheel carries {len(labs)} labs and {len(solutions)} solutions")
    for notebook in notebooks:
        for statement in notebook_imports(notebook):
            exec(statement, {})
    check(True, "every notebook's imports load from the declared dependencies")
    os.environ["GOPITFALLS_HOME"] = str(bundled)
    with_claims = [s for s, lsn in gopitfalls.lessons().items() if lsn.claims is not None]
    del os.environ["GOPITFALLS_HOME"]
    check(bool(with_claims), f"the claims of {len(with_claims)} lessons load from the install")

    listing = cli("list", env={"GOPITFALLS_COURSE_DIR": str(work / "none-yet")})
    listed = [ln for ln in listing.splitlines() if ln[:2].isdigit() and ln[2:3] == "-"]
    check(len(listed) == lesson_count, f"`gopitfalls list` lists {len(listed)} lessons "
          f"from the bundled course, outside any checkout")

    copy = work / "my-course"
    cli("course", str(copy))
    (copy / "go-samples" / LESSON / "lesson.toml").write_text(
        (copy / "go-samples" / LESSON / "lesson.toml").read_text().replace(
            'title = "', 'title = "(my copy) ', 1))
    again = cli("course", str(copy))
    check("kept your version of 1 file" in again, "laying out again keeps the learner's edit")
    mine = cli("list", env={"GOPITFALLS_HOME": str(copy)})
    check("(my copy)" in mine, "the working copy is the course in use when chosen")

    missing = cli("list", env={"GOPITFALLS_HOME": str(work / "nowhere")}, expect_rc=2)
    check("holds no course" in missing and "gopitfalls course" in missing,
          "a missing course is a clear error that names the fix, exit 2")

    lab_serves_a_working_copy(work / "lab-course", lesson_count)
    labs_work_in_a_working_copy(copy, bundled)

    run = cli("run", LESSON)
    check(f"{LESSON}/broken" in run and "goroutines" in run,
          f"`gopitfalls run {LESSON}` completes from the install")
    print(run)


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
