"""The one run-result record of every `rpaccel sim` command, the suite and the campaign."""

import pytest

from rpaccel.verif.result import RunResult


def _rec(**kw):
    return {"name": "s", "rtl_cycles": 10, "model_cycles": 10, "cycles_match": True,
            "values_match": True, "first_mismatch": None, "latency": [7], **kw}


@pytest.mark.parametrize("kw, ok", [
    ({}, True),                                   # a unit without event counters
    ({"counters_match": True}, True),
    ({"counters_match": False}, False),           # counters are part of the verdict
    ({"cycles_match": False}, False),
    ({"values_match": False}, False),
])
def test_verdict(kw, ok):
    r = RunResult.from_dict(_rec(**kw))
    assert r.ok is ok and r["ok"] is ok and r.as_dict()["ok"] is ok


def test_reads_like_the_testbench_record():
    r = RunResult.from_dict(_rec())
    assert r["rtl_cycles"] == 10 and r["latency"] == [7] and r.get("nope", 3) == 3
    assert "latency" in r and "nope" not in r
    assert r.fields == {"latency": [7]}
    assert "counters_match" not in r.as_dict()      # not a unit with counters
    with pytest.raises(KeyError):
        r["nope"]


def test_a_crashed_testbench_fails():
    r = RunResult.crashed("c0s1", "AssertionError: boom")
    assert not r.ok and r.first_mismatch == "testbench error: AssertionError: boom"
    assert r.rtl_cycles is None
