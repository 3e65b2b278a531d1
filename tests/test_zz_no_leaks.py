"""Runs last in tests/ (files run in name order): everything the engine tests started is gone.

The database servers that lessons' runs share stay up until their process ends; the suite
ends them here (as a kernel's exit would), then nothing of ours may remain: no server
process, no data dir."""

from gopitfalls.datastores import stop_shared

from .conftest import wait_until_clean


def test_nothing_left_behind():
    stop_shared()
    assert wait_until_clean(15) == []
