"""experiments.benchmark: the command runs end to end in a tiny configuration and reports every
step kind with positive finite numbers and consistent FLOP counts; the FLOP counters are exact
on a hand-countable MLP. No timing assertions (timings are only checked to be positive)."""

from __future__ import annotations

import json
import math
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from experiments import benchmark
from experiments.benchmark import timing


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
        "--config=experiments/joint.py:tiny,detected",  # with the refiner (every kind)
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
        # The discriminators every iteration (joint.py's default is 2), against the variant.
        "--config.gan.disc_every=1",
        "--variant",
        "d2:gan.disc_every=2",
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
    for kind in (*benchmark.KINDS, "e2e:d2"):
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
    # disc_every=2: the same dots in the program (the D update inside a lax.cond, whose
    # larger branch the jaxpr count takes), the D step's passes counted on half the steps.
    d2, e2e = steps["e2e:d2"], steps["end_to_end"]
    assert d2["overrides"] == {"gan.disc_every": 2}
    assert d2["jaxpr_flops"] == pytest.approx(e2e["jaxpr_flops"])
    halved = [p for p in d2["passes"] if p["share"] == 0.5]
    assert {p["what"][:1] for p in halved} == {"2"} and len(halved) >= 2
    saved = sum(
        2 * p["rows"] * result["meta"]["kernel_sizes"][p["net"]] * p["mult"] / 2 for p in halved
    )
    assert d2["model_flops"] == pytest.approx(e2e["model_flops"] - saved)
    pl = result["pipeline"]
    for key in ("gather", "gather_place", "prefetch"):
        assert positive(pl[f"{key}_batches_per_s"]) and positive(pl[f"{key}_ratio_to_step"])
    for key in ("synchronous", "prefetch", "preplaced"):
        assert positive(result["fed"][f"{key}_steps_per_s"])
    assert positive(result["peak_rss_mib"])
    # The roof: XLA's matmuls and the reference BLAS (numpy) timed in the same rounds; the best
    # is the fastest of them, so every step's share of it is at most its share of XLA's layer.
    assert result["matmul"]["numpy:layer"]["library"] == "numpy"
    for name in ("numpy:layer", "numpy:square"):
        assert positive(result["matmul"][name]["flops_per_s"]), name
    best = result["best_matmul"]
    rated = [v["flops_per_s"] for v in result["matmul"].values() if isinstance(v, dict)]
    assert best["flops_per_s"] == max(rated) and best["name"] in result["matmul"]
    per_cpu = [v["flops_per_cpu_s"] for v in result["matmul"].values() if isinstance(v, dict)]
    per_cpu = [x for x in per_cpu if math.isfinite(x)]
    if per_cpu:  # CPU time is tick-counted: tiny call groups may read 0 (nan rate)
        assert best["flops_per_cpu_s"] == max(per_cpu)
    for kind in benchmark.KINDS:
        rec = steps[kind]
        assert 0 < rec["fraction_of_best_matmul"] <= rec["fraction_of_matmul"], (kind, rec)
        assert rec["cpu_ms"] >= 0 and "model_flops_per_cpu_s" in rec
        assert 0 <= rec["quiet_rounds"] <= 2
    assert "best matmul rate" in printed and "load guard (steps)" in printed
    rounds = result["rounds"]["steps"]
    assert len(rounds) == 2 and all(0.0 <= r["other_cpu"] <= 1.0 for r in rounds)


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


def test_other_cpu_fraction_subtracts_this_process():
    # 10 s of machine CPU time, 6 s busy of which 4 s were ours: others used 20 %.
    assert benchmark.other_cpu_fraction((0.0, 0.0, 0.0), (6.0, 10.0, 4.0)) == pytest.approx(0.2)
    assert math.isnan(benchmark.other_cpu_fraction((1.0, 5.0, 1.0), (1.0, 5.0, 1.0)))  # no time
    assert math.isnan(benchmark.other_cpu_fraction(None, (1.0, 2.0, 0.0)))
    now = benchmark.cpu_counters()
    if now is not None:  # Linux
        busy, total, own = now
        assert 0 <= busy <= total and own > 0


def test_best_matmul_is_the_fastest_timed_one():
    mm = {
        "layer": {"flops_per_s": 1e11, "flops_per_cpu_s": 9e10, "library": "xla"},
        "numpy:layer": {"flops_per_s": 3e11, "flops_per_cpu_s": 5e10, "library": "numpy"},
        "square": {"flops": 1.0},  # not timed
        "reference": "layer",
    }
    # The wall-clock best and the per-CPU-second best need not be the same matmul.
    assert benchmark.best_matmul(mm) == {
        "name": "numpy:layer",
        "flops_per_s": 3e11,
        "cpu_name": "layer",
        "flops_per_cpu_s": 9e10,
    }
    with pytest.raises(ValueError, match="no matmul"):
        benchmark.best_matmul({"reference": "layer"})


def test_load_guard_keeps_only_the_quiet_rounds(monkeypatch):
    """Rounds where other processes used more than the limit are left out of the medians."""

    bench = types.SimpleNamespace(b=4, max_other_cpu=0.1, settle={}, rounds={})
    # Call "a" takes 1 ms in quiet rounds; round 2 (busy: others used 50 %) makes it 100 ms.
    clock = {"t": 0.0, "round": 0}
    quiet_counts = iter([(0, 10, 0), (1, 20, 1), (0, 10, 0), (6, 20, 1), (0, 10, 0), (1, 20, 1)])

    def call():
        clock["t"] += 0.1 if clock["round"] == 1 else 0.001
        return None

    def counters():
        value = next(quiet_counts)
        if value[1] == 20:  # end of a round
            clock["round"] += 1
        return value

    bench.calls = {"a": call}
    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock["t"])
    monkeypatch.setattr(timing, "cpu_counters", counters)
    monkeypatch.setattr(timing, "block", lambda tree: None)
    recs = {"a": {"steps_per_call": 1, "model_flops": 1.0, "xla_flops": 1.0}}
    # Warm-up and calibration calls happen before the rounds (round 0 timing).
    benchmark.time_interleaved(bench, recs, repeats=3, min_time=0.0, label="t")
    rounds = bench.rounds["t"]
    assert [r["quiet"] for r in rounds] == [True, False, True]
    assert rounds[1]["other_cpu"] == pytest.approx(0.5)
    assert recs["a"]["quiet_rounds"] == 2
    assert recs["a"]["step_ms"] == pytest.approx(1.0)  # the busy round's 100 ms is left out
    assert max(recs["a"]["repeat_ms"]) == pytest.approx(100.0)  # but still reported
    assert recs["a"]["cpu_ms"] >= 0


def test_single_update_pass_table_has_the_same_pose_rows():
    """single_update: one pose pass over real(+aug)+2D-only rows (the same rows as steps 3
    and 4 together) and the 2D discriminator's judgement of the 2D-only rows."""
    opts = dict(
        nets={"refiner", "lifter", "camera", "generator", "disc_3d", "disc_2d"},
        trained={"refiner", "lifter", "camera", "generator", "disc_3d", "disc_2d"},
        feedback=True,
        use_2d_only=True,
        train_on_fakes=True,
    )
    two = benchmark.step_passes("end_to_end", dict(opts, single_update=False), 16, 8)
    one = benchmark.step_passes("end_to_end", dict(opts, single_update=True), 16, 8)

    def rows(passes, net, step):
        return sum(p.rows for p in passes if p.net == net and p.what[:1] in step)

    for net in ("refiner", "lifter", "camera"):
        assert rows(one, net, "3") == rows(two, net, "34") == 2 * 16 + 8
    assert rows(one, "disc_2d", "3") == rows(two, "disc_2d", "4") == 8


def test_step_kinds_follow_the_stages_that_run():
    """A stage's settings outside `stages.order` are not benchmarked (the default joint config
    keeps the refiner's settings but runs no refiner stage on ground-truth 2D)."""
    from experiments import joint

    assert benchmark.find_stage(joint.get_config("tiny"), "refiner") is None
    assert benchmark.find_stage(joint.get_config("tiny,detected"), "refiner") == "refiner"
    assert benchmark.find_stage(joint.get_config("tiny"), "supervised") == "pretrain"


def test_a_variant_that_changes_the_networks_is_refused():
    """A variant times the config's state with another step, so it must keep the networks:
    turning the refiner on over the ground-truth default is a one-line error, before any work."""
    from experiments import joint

    config = joint.get_config("tiny")
    ok = {"d2": {"gan.disc_every": 2}}
    assert benchmark.checked_variants(config, ok) == ok
    with pytest.raises(SystemExit, match=r"--variant ref changes the networks"):
        benchmark.checked_variants(config, {"ref": {"model.refiner.enabled": True}})
    with pytest.raises(SystemExit, match="unknown config key"):
        benchmark.checked_variants(config, {"bad": {"model.no_such_net.enabled": True}})


def test_breakdown_runs_with_fused_steps(tmp_path):
    """`--breakdown` with `--steps-per-call 2`: every variant (the PRNG ones included) is
    jitted as the timed kinds are, K steps fused over stacked batches."""
    argv = [
        "--config=experiments/joint.py:tiny",
        *("--batch-size", "8", "--devices", "1", "--repeats", "1", "--min-time", "0.01"),
        *("--square", "64", "--quiet", "--no-pipeline", "--no-reference-blas"),
        *("--kinds", "end_to_end", "--breakdown", "--steps-per-call", "2"),
        *("--compile-option", "xla_backend_optimization_level=0"),
        f"--config.data.synthetic.cache_dir={tmp_path / 'world'}",
    ]
    breakdown = benchmark.main(argv)["breakdown"]
    for name in ("no_dropout", "no_feedback", "pose_only", "prng_rbg", "prng_unsafe_rbg"):
        assert math.isfinite(breakdown[name]["step_ms"]) and breakdown[name]["step_ms"] > 0, name
