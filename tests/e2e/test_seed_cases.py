"""The seed's test cases 01-06 on real agents and PostgreSQL servers, three times each
(PGHA_SEED_ROUNDS times when set: the loop that hunts flakes, e.g. 20 with -k testCase04).

Each case runs through POST test/testCaseNN: every step is the seed's curl call to the
named node's agent, followed by the states of both nodes, which must be the expected ones;
failover restart must keep the timeline and promote must increment it; a background writer
inserts rows from the first step that leaves a master, and every row the server acknowledged
must be on the master before the last step.
"""

import json
import os

import pytest

pytestmark = pytest.mark.e2e

ROUNDS = int(os.environ.get("PGHA_SEED_ROUNDS", "3"))
CASES = ["testCase01", "testCase02", "testCase03", "testCase04", "testCase05", "testCase06"]


@pytest.mark.parametrize("round_", range(1, ROUNDS + 1))
@pytest.mark.parametrize("case", CASES)
def test_seed_case(cluster, case, round_):
    body = cluster.ok("pg-node01", "POST", "test/" + case)
    steps = {k: v for k, v in body.items() if isinstance(v, dict) and "cmd" in v}
    failed = {k: v for k, v in steps.items() if not v["pass"]}
    assert not failed, json.dumps(failed, indent=1)
    assert body["result"] == "pass", body
    writer = body["writer"]
    assert writer["acknowledged"] > 0 and writer["lost"] == 0, writer
    for step in steps.values():
        assert step["states"] == step["expected"]
    if case in ("testCase05", "testCase06"):
        tl = next(s["timeline"] for s in steps.values() if "timeline" in s)
        assert tl["after"] == tl["before"] + (1 if case == "testCase06" else 0)
