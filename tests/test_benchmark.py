"""experiments.benchmark: the command runs end to end in a tiny configuration and reports every
step kind with positive finite numbers and consistent FLOP counts; the FLOP counters are exact
on a hand-countable MLP. No timing assertions (timings are only checked to be positive)."""

from __future__ import annotations

import json
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from experiments import benchmark


def _mlp_loss(params, x):
    h = jnp.maximum(x @ params["w1"], 0.0)
    return jnp.sum((h @ params["w2"]) ** 2)


def test_jaxpr_matmul_flops_of_an_mlp_step_is_exact():
    # Hand count: forward x(B,I)@w1(I,H) and h(B,H)@w2(H,O): 2BIH + 2BHO. Backward: dW2 = h^T dy
    # (2BHO), dh = dy w2^T (2BHO), dW1 = x^T dh (2BIH); no dx (x is data). Total 3*2BHO + 2*2BIH.
    b, i, h, o = 8, 5, 7, 3
    params = {"w1": jnp.ones((i, h)), "w2": jnp.ones((h, o))}
    x = jnp.ones((b, i))
    closed = jax.make_jaxpr(jax.grad(_mlp_loss))(params, x)
    assert benchmark.jaxpr_matmul_flops(closed) == 3 * 2 * b * h * o + 2 * 2 * b * i * h
    # Inside a scan of length 4 (the fused-steps path): four times as many.
    scanned = jax.make_jaxpr(
        lambda p, xs: jax.lax.scan(lambda c, x: (c, jax.grad(_mlp_loss)(p, x)), 0.0, xs)
    )(params, jnp.ones((4, b, i)))
    assert benchmark.jaxpr_matmul_flops(scanned) == 4 * (3 * 2 * b * h * o + 2 * 2 * b * i * h)
    # XLA's count of the same program: the matmuls plus a few element-wise FLOPs.
    xla = benchmark.xla_flops(jax.jit(jax.grad(_mlp_loss)).lower(params, x).compile())
    assert 3 * 2 * b * h * o + 2 * 2 * b * i * h <= xla <= 2 * (3 * 2 * b * h * o + 4 * b * i * h)


def test_kernel_size_counts_dense_kernels_only():
    module = nn.Sequential([nn.Dense(7), nn.relu, nn.Dense(3)])
    params = module.init(jax.random.key(0), jnp.ones((2, 5)))["params"]
    assert benchmark.kernel_size(params) == 5 * 7 + 7 * 3  # biases excluded


def test_config_loading_is_run_s():
    """The benchmark loads configs as experiments.run does: typed overrides, unknown keys fail."""
    config = benchmark.load_config(
        "experiments/joint.py:tiny",
        [
            "--config.train.batch_size=8",
            "--config.stages.end_to_end.feedback=False",
            "--config.model.lifter.dropout=0",
        ],
    )
    assert config.train.batch_size == 8 and config.stages.end_to_end.feedback is False
    assert config.model.lifter.dropout == 0.0 and config.name == "joint_tiny"
    with pytest.raises(ValueError, match="no_such_key"):
        benchmark.load_config("experiments/joint.py", ["--config.train.no_such_key=1"])


def test_benchmark_tiny_run_reports_every_kind(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = [
        "--config=experiments/joint.py:tiny",
        "--batch-size",
        "8",
        "--devices",
        "1",
        "--repeats",
        "2",
        "--min-time",
        "0.01",
        "--square",
        "64",
        "--quiet",
        # Faster compiles (timings are not checked); the dropout masks' PRNG ops are most
        # of the tiny program.
        "--compile-option",
        "xla_backend_optimization_level=0",
        "--config.model.lifter.dropout=0",
        "--config.model.refiner.dropout=0",
        "--config.model.camera.dropout=0",
        f"--config.data.synthetic.cache_dir={tmp_path / 'world'}",
        "--json",
        str(out),
    ]
    benchmark.main(argv)
    result = json.loads(out.read_text())
    printed = capsys.readouterr().out
    assert result["meta"]["batch_size"] == 8 and result["meta"]["devices"] == 1

    def positive(x):
        return isinstance(x, (int, float)) and math.isfinite(x) and x > 0

    for name in ("layer", "layer@B", "square"):
        assert positive(result["matmul"][name]["flops_per_s"]), name
    for kind in benchmark.KINDS:
        rec = result["steps"][kind]
        assert "skipped" not in rec, (kind, rec)
        for key in ("compile_s", "step_ms", "steps_per_s", "samples_per_s", "model_flops"):
            assert positive(rec[key]), (kind, key, rec[key])
        for key in (
            "xla_flops",
            "jaxpr_flops",
            "model_flops_per_s",
            "xla_flops_per_s",
            "fraction_of_matmul",
        ):
            assert positive(rec[key]), (kind, key, rec[key])
        assert rec["samples_per_s"] == pytest.approx(8 * rec["steps_per_s"])
        # The analytic Dense count is the matmul part of what JAX traced (which also has the
        # KCS Gram matrices, rotations and a few dX the analytic count rounds): same size.
        assert 0.5 < rec["jaxpr_flops"] / rec["model_flops"] < 2.0, (kind, rec)
        # XLA counts at least the matmuls it kept (it also counts element-wise work, which at
        # these tiny widths is comparable to the matmuls).
        assert rec["xla_flops"] >= 0.5 * rec["jaxpr_flops"], (kind, rec)
        assert rec["donation_warnings"] == [], (kind, rec["donation_warnings"])
        assert kind in printed
    steps = result["steps"]
    # The G/D part is a strict part of the end-to-end iteration.
    assert steps["gan_only"]["model_flops"] < steps["end_to_end"]["model_flops"]
    assert steps["gan_only"]["xla_flops"] < steps["end_to_end"]["xla_flops"]
    pl = result["pipeline"]
    for key in ("gather", "gather_place", "prefetch"):
        assert positive(pl[f"{key}_batches_per_s"]) and positive(pl[f"{key}_ratio_to_step"])
    for key in ("synchronous", "prefetch", "preplaced"):
        assert positive(result["fed"][f"{key}_steps_per_s"])
    assert positive(result["peak_rss_mib"])


def test_hlo_categories_of_a_compiled_layer(tmp_path):
    def f(x, w, key):
        h = jnp.maximum(x @ w, 0.0)
        mask = jax.random.bernoulli(key, 0.5, h.shape)  # threefry bit mixing
        return jnp.sum(jnp.where(mask, h, 0.0), axis=0)

    args = (jnp.ones((8, 4)), jnp.ones((4, 16)), jax.random.key(0))
    compiled = jax.jit(f).lower(*args).compile()
    cats = {c for c, _ in benchmark.hlo_categories(compiled.as_text()).values()}
    assert {"matmul", "prng", "reduce"} <= cats, cats
    prof = benchmark.profile_compiled(
        compiled, lambda: compiled(*args), calls=2, logdir=str(tmp_path)
    )
    assert prof["cpu_ms_per_call"] > 0 and "matmul" in prof["by_category_ms"]
