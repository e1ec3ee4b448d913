"""A small fixed-seed random co-verification campaign (2 configurations x 6 scenarios per unit);
``make verify`` runs the long one. Every scenario checks cycles exactly and values bit for bit;
a failure prints its one-line ``rpaccel sim`` reproducer."""

import pytest

from rpaccel.units import UNITS

SEED = 2026
CONFIGS, SCENARIOS = 2, 6


@pytest.mark.parametrize("unit, index", [(u, i) for u in UNITS for i in range(CONFIGS)])
def test_random_campaign(unit, index):
    from rpaccel.verif.campaign import _run_one, draw

    cfg, scs = draw(unit, CONFIGS, SCENARIOS, SEED)[index]
    print(f"campaign seed={SEED} unit={unit} config {index}: {cfg.label()} "
          f"(reproduce the whole set: rpaccel verify --units {unit} --configs {CONFIGS} "
          f"--scenarios {SCENARIOS} --seed {SEED})")
    res = _run_one(unit, cfg, scs)
    assert res["scenarios"] == SCENARIOS
    assert not res["failures"], "\n".join(f"{f['scenario']}: {f['first_mismatch']}\n  reproduce: "
                                          f"{f['reproducer']}" for f in res["failures"])


ACCEL_CONFIGS, ACCEL_SCENARIOS = 2, 2


@pytest.mark.verify
@pytest.mark.parametrize("index", [pytest.param(i, marks=pytest.mark.xdist_group(f"accel-rand{i}"))
                                   for i in range(ACCEL_CONFIGS)])
def test_random_campaign_accel(index):
    """Random tiny accelerators and 1..3-stage pipelines (the integrated top). Opt-in (``make
    verify``, about 5 CPU-minutes): ``make test`` co-verifies the top on its fixed matrix."""
    from rpaccel.verif.campaign import _run_one, draw

    build, scs = draw("accel", ACCEL_CONFIGS, ACCEL_SCENARIOS, SEED)[index]
    print(f"campaign seed={SEED} accel config {index}: {build.label()} items "
          f"{build.pipeline.items} sub-batch {build.sub_batch} (reproduce the whole set: rpaccel "
          f"verify --units accel --configs {ACCEL_CONFIGS} --scenarios {ACCEL_SCENARIOS} "
          f"--seed {SEED})")
    res = _run_one("accel", build, scs)
    assert res["scenarios"] == ACCEL_SCENARIOS
    assert not res["failures"], "\n".join(f"{f['scenario']}: {f['first_mismatch']}\n  reproduce: "
                                          f"{f['reproducer']}" for f in res["failures"])
