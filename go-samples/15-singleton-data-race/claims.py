"""What lesson 15's runs must show."""

from gopitfalls.claims import RunSpec

RUNS = {"broken": RunSpec("broken")}
