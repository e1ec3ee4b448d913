"""The CPU table form (DeepRecSys's measured-table form for CPUs): `rpaccel calibrate cpu
--table` writes a table the `cpu-table:FILE` platform reads; interpolation in log4(batch);
DeepRecSched runs on it; malformed tables are one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from rpaccel.models import get_model
from rpaccel.sched.platforms.hosts import CpuTable, get_platform

EXE = [sys.executable, "-m", "rpaccel.cli"]
B = [1, 4, 16, 64, 256, 1024, 4096]


def _table(tmp_path, times=None, **over):
    d = {"kind": "rpaccel-cpu-table", "batches": B,
         "times_s": times or {"ncf": [1e-4 * (i + 1) for i in range(7)]}, **over}
    f = tmp_path / "t.json"
    f.write_text(json.dumps(d))
    return f


def test_interpolation_and_extrapolation(tmp_path):
    p = get_platform(f"cpu-table:{_table(tmp_path)}")
    m = get_model("ncf")
    pre = p._cpu.preprocess_per_item_s
    inf = np.asarray(p.service_time(m, [1, 4, 8, 4096, 8192])) - pre * np.array([1, 4, 8, 4096,
                                                                                 8192])
    # batch 8 lies half-way between 4 and 16 in log4: half-way between 2e-4 and 3e-4
    assert inf == pytest.approx([1e-4, 2e-4, 2.5e-4, 7e-4, 14e-4])
    assert p.service_time(m, 0) == 0
    assert p.sort_time(4096) == get_platform("cpu").sort_time(4096)


@pytest.mark.parametrize("over, msg", [
    ({"kind": "other"}, "not an rpaccel CPU table"),
    ({"batches": [1, 2, 4]}, "batches must be 1, 4, 16"),
    ({"times_s": {"ncf": [1e-4] * 6}}, "need 7 positive times"),
    ({"times_s": {"ncf": [1e-4] * 6 + [-1]}}, "need 7 positive times"),
])
def test_bad_tables(tmp_path, over, msg):
    with pytest.raises(ValueError, match=msg):
        CpuTable.load(str(_table(tmp_path, **over)))
    p = CpuTable.load(str(_table(tmp_path)))
    with pytest.raises(ValueError, match="no entry for model 'wnd'"):
        p.service_time(get_model("wnd"), 4)


def test_calibrate_table_and_deeprecsched_on_it(tmp_path):
    out = tmp_path / "cpu.json"
    r = subprocess.run(EXE + ["calibrate", "cpu", "--table", "--models", "ncf,din", "--reps",
                              "1", "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    assert d["batches"] == B and d["threads"] == 1 and set(d["times_s"]) == {"ncf", "din"}
    assert all(t > 0 for ts in d["times_s"].values() for t in ts)
    # a measured forward pass of 4096 items takes longer than one of 1
    assert d["times_s"]["ncf"][-1] > d["times_s"]["ncf"][0]
    r = subprocess.run(EXE + ["study", "deeprecsched", "--cpu", f"cpu-table:{out}", "--models",
                              "ncf", "--queries", "500", "--size-sigma", "1.0", "-o",
                              str(tmp_path / "s")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    gains = (tmp_path / "s" / "gains.csv").read_text()
    assert "cpu-table:" in gains and "ncf" in gains
    bad = subprocess.run(EXE + ["study", "deeprecsched", "--cpu", "cpu-table:/nope.json",
                                "-o", str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
