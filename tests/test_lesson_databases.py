"""A lesson's databases in its runs: lesson.toml's [databases], a fresh seeded database and
an empty Redis for every run, the servers shared by the runs of a process, what they count
sampled as the run's "db" series, and a run's hook taking PostgreSQL down and up."""

import threading
import time

import pytest

from gopitfalls import datastores
from gopitfalls.course import parse_database_spec
from gopitfalls.datastores import DatabaseSpec, DatastoreError, acquire, stop_shared
from gopitfalls.experiment import Run, run

from .conftest import ROOT
from .test_datastores import pg_connect

ECHO_ENV = ROOT / "tests" / "programs" / "echo_env"
SEED = "CREATE TABLE quotes (id int PRIMARY KEY, text text);\n" \
       "INSERT INTO quotes SELECT n, 'quote ' || n FROM generate_series(1, 50) n;\n"
SPEC = DatabaseSpec(postgres={"max_connections": "6"}, redis={}, seed=SEED)


@pytest.fixture(scope="module", autouse=True)
def _stop_servers_after():
    yield
    stop_shared()


def hold_connections(ctl, n: int, seconds: float) -> None:
    """n client connections to the lesson database, each running a query for ``seconds``."""
    def one():
        sock, error = pg_connect(ctl.postgres.port)
        assert sock, error
        with sock:
            time.sleep(seconds)
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_each_run_starts_on_a_fresh_seeded_database_and_an_empty_redis(tmp_path):
    def hook(ctl):
        ctl.data["rows at start"] = ctl.postgres.sql("SELECT count(*) FROM quotes")
        ctl.data["key at start"] = ctl.redis.command("GET", "k")
        ctl.postgres.sql("INSERT INTO quotes VALUES (999, 'added by the run')")
        ctl.redis.command("SET", "k", "v")
        for _ in range(20):
            ctl.redis.command("GET", "k")      # hits
            ctl.redis.command("GET", "absent")  # misses
        ctl.event("marked")
        hold_connections(ctl, 3, 1.0)

    runs = [run(ECHO_ENV, databases=SPEC, during_load=hook, baseline_s=0.2, cooldown_s=0.3)
            for _ in range(2)]
    pg = acquire(SPEC).postgres
    for r in runs:
        assert r.data == {"rows at start": "50", "key at start": None}  # the first run's
        # insert and key are gone for the second
        assert f"DATABASE_URL={pg.dsn}" in [line for _, line in r.stdout]
        assert r.peak("postgres.connections", "db") >= 3
        assert r.values("redis.hits", "db")[-1] >= 20
        assert r.values("redis.misses", "db")[-1] >= 20
        assert max(r.values("redis.commands/s", "db")) > 0
        assert r.event_time("marked") is not None
        assert r.params["databases"] == {"postgres": {"max_connections": "6"}, "redis": {},
                                          "seeded": True}
    assert Run.load_file(runs[0].save(tmp_path / "db-run.json")).db_samples == \
        runs[0].db_samples


def test_runs_share_servers_per_settings_and_keep_at_most_two_of_a_kind():
    first = acquire(SPEC)
    assert acquire(SPEC).postgres is first.postgres  # reused
    other = [acquire(DatabaseSpec(postgres={"max_connections": str(n)})).postgres
             for n in (7, 8)]
    assert first.postgres.popen is None and not first.postgres.dir.exists()  # oldest stopped
    assert all(server.popen is not None for server in other)
    assert first.redis.popen is not None  # Redis is counted apart


def test_a_hook_takes_postgres_down_and_the_run_brings_it_back():
    def hook(ctl):
        ctl.postgres.down()
        ctl.event("db down")
        with pytest.raises(DatastoreError):
            ctl.postgres.sql("SELECT 1")
        ctl.data["port"] = ctl.postgres.port

    r = run(ECHO_ENV, databases=SPEC, during_load=hook, baseline_s=0.2, cooldown_s=0.2)
    pg = acquire(SPEC).postgres
    assert pg.popen is not None and pg.port == r.data["port"]
    assert pg.sql("SELECT count(*) FROM quotes") == "50"  # the same data dir, back up


def test_down_and_up_keep_the_port_and_the_data():
    server = datastores.Postgres().start()
    try:
        server.sql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
        port = server.port
        server.down()
        with pytest.raises(DatastoreError, match="not running"):
            server.sql("SELECT 1")
        server.up()
        assert server.port == port and server.sql("SELECT n FROM kept") == "7"
    finally:
        server.stop()
    assert server.dir is None or not server.dir.exists()


def test_a_scenario_lays_its_settings_over_the_lessons():
    spec = DatabaseSpec(postgres={"max_connections": "20", "fsync": "off"}, seed="x")
    merged = spec.with_settings({"postgres": {"max_connections": "5"}, "redis": {}})
    assert merged.postgres == {"max_connections": "5", "fsync": "off"}
    assert merged.redis == {} and merged.seed == "x"
    assert spec.with_settings({}).redis is None
    with pytest.raises(ValueError, match="unknown server mysql"):
        spec.with_settings({"mysql": {}})


def test_lesson_toml_databases_are_checked(tmp_path):
    toml = tmp_path / "lesson.toml"
    (tmp_path / "seed.sql").write_text("SELECT 1;")
    assert parse_database_spec({"postgres": {}, "seed": "seed.sql"}, toml).seed == "SELECT 1;"
    with pytest.raises(ValueError, match="no such file"):
        parse_database_spec({"postgres": {}, "seed": "missing.sql"}, toml)
    with pytest.raises(ValueError, match="takes postgres, redis and seed"):
        parse_database_spec({"postgress": {}}, toml)
    assert parse_database_spec(None, toml) is None


def test_rates_of_counters():
    r = Run(label="x", backend="local", enforcement={}, params={},
            samples=[{"t": 0.0, "expvar": {"q": 0}}, {"t": 0.5, "expvar": {"q": 10}},
                     {"t": 1.5, "expvar": {"q": 10}}])
    assert r.series("expvar.q/s") == ([0.5, 1.5], [20.0, 0.0])


def test_a_lessons_go_tests_get_its_servers():
    """lesson.go_test hands a lesson with databases its servers: a test that needs
    PostgreSQL runs (without them it skips, and go_test finds no test that ran)."""
    import gopitfalls

    report = gopitfalls.lesson("13-db-pool-exhaustion").go_test(
        "fixed", "^TestBurstStaysUnderTheCap$")
    assert report.results == {"TestBurstStaysUnderTheCap": ["pass"]}, report.output[-20:]
