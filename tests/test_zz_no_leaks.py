"""Runs last in tests/ (files run in name order): everything the engine tests started is gone."""

from .conftest import wait_until_clean


def test_nothing_left_behind():
    assert wait_until_clean(15) == []
