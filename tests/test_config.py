"""Bad configurations and shapes fail early with one-line messages naming the parameter."""

import pytest

from rpaccel.config import GemmConfig, config_from_dict


@pytest.mark.parametrize("kwargs, match", [
    ({"rows": 0, "cols": 4}, r"^rows must be an integer in \[1, 256\], got 0$"),
    ({"rows": 4, "cols": 0}, r"^cols must be an integer in \[1, 256\], got 0$"),
    ({"rows": 4, "cols": 4, "in_width": 1}, r"^in_width must be an integer in \[2, 32\], got 1$"),
    ({"rows": 4, "cols": 4, "in_width": 8, "acc_width": 15},
     r"^acc_width must be an integer in \[16, 64\], got 15$"),
    ({"rows": 4, "cols": 4, "acc_width": 65}, r"^acc_width must be an integer in \[16, 64\]"),
    ({"rows": 2.5, "cols": 4}, r"^rows must be an integer in \[1, 256\], got 2.5$"),
    ({"rows": "4", "cols": 4}, r"^rows must be an integer"),
    ({"rows": True, "cols": 4}, r"^rows must be an integer"),
    ({"rows": 4, "cols": 4, "max_m": 0}, r"^max_m must be an integer"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GemmConfig(**kwargs)


def test_buffer_too_large():
    with pytest.raises(ValueError, match=r"A buffer of \d+ words; at most 16777216"):
        GemmConfig(rows=1, cols=1, max_m=1 << 20, max_k=1 << 16)


@pytest.mark.parametrize("shape, match", [
    ((0, 4, 4), r"^m must be an integer in \[1, 64\], got 0$"),
    ((4, 0, 4), r"^k must be an integer in \[1, 100\], got 0$"),
    ((4, 4, 0), r"^n must be an integer in \[1, 50\], got 0$"),
    ((65, 4, 4), r"^m must be an integer in \[1, 64\], got 65$"),
    ((4, 101, 4), r"^k must be an integer in \[1, 100\], got 101$"),
    ((4, 4, 51), r"^n must be an integer in \[1, 50\], got 51$"),
    ((4.0, 4, 4), r"^m must be an integer"),
])
def test_bad_shape(shape, match):
    cfg = GemmConfig(rows=3, cols=5, max_m=64, max_k=100, max_n=50)
    with pytest.raises(ValueError, match=match):
        cfg.check_shape(*shape)


def test_unknown_key_rejected():
    with pytest.raises(ValueError, match=r"unknown GemmConfig field\(s\) \['colls'\]"):
        config_from_dict(GemmConfig, {"rows": 2, "colls": 3})


def test_key_is_stable_and_distinguishes():
    a = GemmConfig(rows=4, cols=4)
    assert a.key() == GemmConfig(rows=4, cols=4).key()
    assert a.key() != GemmConfig(rows=4, cols=4, acc_width=24).key()
