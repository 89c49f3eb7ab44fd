"""Config sections shared by every experiment (joint, supervised, poseaug).

Every key is declared here with its type; experiment files only change values. Sections:
`data`, `model.<net>`, `optim.<net>`, `loss_weights`, `gan`, `stages.<name>`, `train`, `eval`.
Variant arguments (`experiments/joint.py:smoke,detected`) are comma-separated tokens handled
by `apply_variants`.

Key reference (what the training code reads):

- `seed` (int): everything random derives from it (init, data order, dropout, noise).
- `skeleton` (str): 'h36m17' (the synthetic world and the data converters use it).
- `data.source` (str): 'synthetic' (generate/cache the synthetic world) or 'files' (use the
  paths below). With 'synthetic', empty paths mean the world's split of that role.
- `data.input_2d` (str): 'gt' (ground-truth 2D as input, paper Table 4) or 'detections'
  (detected 2D with confidences, Table 5).
- `data.paired` / `data.two_d_only` / `data.val` (str): prepared `.npz` files (schema) for the
  2D-3D training set (ϕ), the 2D-only set (ϕ') and the validation set (model selection).
- `data.tests` (str): comma-separated `name=path` test sets ('' = the synthetic test splits).
- `data.pck_sets` (str): comma-separated names of test sets scored like 3DHP (PCK/AUC, 14
  joints).
- `data.synthetic.{seed, scale, cache_dir, rare_fraction, lab_rare, held_out}`: the synthetic
  world; `scale` multiplies its default split sizes (lab_train 40k, lab_val 8k, wild_2d 12k,
  tests 4k each); `held_out` (comma-separated movement families or movements) is left out of
  every training split, for the leave-one-family-out test (`experiments.holdout`).
- `model.lifter.output_init_scale` (float): the lifter's last layer is multiplied by this at
  init (0 = start predicting every joint at the root). The Kaiming-initialised output puts
  joints metres away (MSE ~20 m²) and their reprojection (Eq. 7) near or behind the camera,
  a loss of ~1e5 that swamps every other term for hundreds of steps; 1.0 keeps the init.
- `model.lifter.input_norm` ('none' | 'root_scale'): 'none' is the paper (absolute normalized
  screen coordinates); 'root_scale' is our ablation: the lifter sees its 2D root-centred and
  divided by the 2D size (`geometry.scale_normalize_2d`), so it cannot read apparent size and
  only the camera branch can explain depth (experiments/RESULTS.md, claim 1).
- `model.lifter.kind` ('martinez' | 'videopose'), widths/blocks/dropout per network,
  `model.refiner.enabled`, `model.camera.enabled`, camera/generator priors.
- `model.generator.translation` ('bounded' | 'poseaug' | 'source'): how the generator's RT
  stage places the root, and `model.generator.rotation` ('any' | 'upright') how it turns the
  pose (`cpose_jax.models.generator`; 'source' with `source_log_range`, `source_shift`,
  'upright' with `tilt_limit` in radians), `model.generator.ba_init_scale` (BA's last layer
  times this at init: 0 = the first fakes keep the source's bone directions);
  `model.disc_2d.input_kind` ('kcs' | 'raw').
- `optim.<net>.{lr_scale, clip_norm, b1, b2, weight_decay}`: each network's own optimizer; its
  learning rate in a stage = stage lr * lr_scale.
- `loss_weights.*`: λ of paper Eq. 16/17 (+ the 2D-only adversarial weight), and departures
  from the paper, each off at its base value (`cpose_jax.train.settings.LossWeights` says
  what each does): `camera_fakes` (Eq. 8 on augmented pairs x this; 0 = real pairs only),
  `reprojection_balance` (Eq. 7 rows weighted by their 2D size^(-2p)), `refiner_downstream`
  (1 = the refiner trained end to end; 0 = by Eq. 4 alone), the priors on the 2D-only lifts
  `bone_prior_2d_only` (bone lengths) and `bone_ratio_2d_only` (proportions), and the terms
  that look at the 2D-only lifts from elsewhere: `novel_view_2d_only` (the 2D discriminator
  judges each lift turned to a random view), `relift_2d_only` (that view lifted again and
  turned back must match the lift), with `novel_view_axis` ('camera' | 'spine') and
  `novel_view_elevation` (degrees), and `adversarial_3d_2d_only` (the 3D discriminator
  judges the lifts).
- `gan.*`: PoseAug generator-loss weights/ranges, pool size; `gan.project_clip` (> 0: the
  generated poses are projected with X/Z, Y/Z clipped to that bound, PoseAug's 1.0);
  `gan.disc_every` (int k >= 1): the discriminators are updated every k-th iteration of a GAN
  stage (PoseAug's `df`: 2; their lr schedules stay on the iteration clock);
  `gan.feedback_batches` ('shared': the feedback loss lifts the original, BA and RT poses
  in one BatchNorm batch; 'separate': three, as PoseAug's code; docs/results.md compares them).
- `stages.order` (str): comma-separated stage names run in order; `stages.<name>.*`: kind
  ('refiner' | 'supervised' | 'gan'), epochs, lr, decay_epochs, decay_factor (x lr at each
  decay epoch), decay_kind ('step': those decays; 'linear': PoseAug's lr * (1 - e/(epochs+1))
  in epoch e, decay_epochs unused), warmup_epochs (linear lr ramp at the stage start; 3 for
  end_to_end: at the paper's 5e-4 with fresh Adam moments the start of that stage otherwise
  blows up on the synthetic world), and the GAN options train_on_fakes, use_2d_only, feedback,
  train_refiner, train_camera, validate, single_update (one forward and one update per pose
  network per iteration on real, augmented and 2D-only rows: `recipe.StageOptions`).
- `stages.epoch_scale` (float): an "epoch" is `epoch_scale` passes over the 2D-3D training
  set (epochs, decay epochs and validation all count in these units). 1.0 = the paper.
- `train.*`: batch sizes, host sync / checkpoint / log intervals, devices, compile cache,
  `coverage_every` (k: every k-th epoch of a GAN stage, the coverage of the generator's fakes
  beyond the training poses, `train/generator/coverage_mm`; 0 = off).
- `eval.*`: flip test-time augmentation, batch size, validation each epoch (`val_max_samples`),
  test-set tracking at each validation (`test_samples_each_epoch`, for reports only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import ml_collections


def stage(
    kind: str,
    *,
    epochs: int,
    lr: float,
    decay_epochs: tuple[int, ...] = (),
    decay_factor: float = 0.1,
    decay_kind: str = "step",
    warmup_epochs: float = 0.0,
    train_on_fakes: bool = True,
    use_2d_only: bool = False,
    feedback: bool = True,
    train_refiner: bool = False,
    train_camera: bool = True,
    validate: bool = True,
    single_update: bool = False,
) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.kind = kind
    c.epochs = epochs
    c.lr = lr
    # Tuples are overridable: --config.stages.end_to_end.decay_epochs="(30,60)".
    c.decay_epochs = tuple(decay_epochs)
    c.decay_factor = decay_factor
    c.decay_kind = decay_kind  # 'step' (x decay_factor at decay_epochs) | 'linear' (PoseAug)
    c.warmup_epochs = warmup_epochs  # linear lr ramp at the stage start (not in the paper)
    c.train_on_fakes = train_on_fakes
    c.use_2d_only = use_2d_only
    c.feedback = feedback
    c.train_refiner = train_refiner
    c.train_camera = train_camera
    c.validate = validate
    c.single_update = single_update
    return c


def optimizer(lr_scale: float = 1.0, clip_norm: float = 1.0) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.lr_scale = lr_scale
    c.clip_norm = clip_norm
    c.b1 = 0.9
    c.b2 = 0.999
    c.weight_decay = 0.0
    return c


def base_config() -> ml_collections.ConfigDict:
    """The CameraPose (joint) configuration with the paper's settings (§4.3)."""
    c = ml_collections.ConfigDict()
    c.name = "joint"
    c.seed = 0
    c.skeleton = "h36m17"

    c.data = d = ml_collections.ConfigDict()
    d.source = "synthetic"
    d.input_2d = "gt"
    d.paired = ""
    d.two_d_only = ""
    d.val = ""
    d.tests = ""
    d.pck_sets = "rig2_test"
    d.synthetic = s = ml_collections.ConfigDict()
    s.seed = 0
    s.scale = 1.0
    s.cache_dir = ""  # '' = $CPOSE_CACHE_DIR/synthetic or ~/.cache/cpose_jax/synthetic
    s.rare_fraction = 0.1  # rare (floor, inverted) share of wild_test; lab, wild_2d: 2.5x
    s.lab_rare = True  # False: the lab never shows them (only the 2D-only web data does)
    s.held_out = ""  # movement families (e.g. 'floor,dance') lab_train/lab_val/wild_2d leave out

    c.model = m = ml_collections.ConfigDict()
    m.lifter = ml_collections.ConfigDict(
        dict(
            kind="martinez",
            features=1024,
            num_blocks=2,
            dropout=0.25,
            output_init_scale=0.0,
            input_norm="none",
        )
    )
    m.refiner = ml_collections.ConfigDict(
        dict(enabled=True, features=512, num_blocks=1, dropout=0.25)
    )
    m.camera = ml_collections.ConfigDict(
        dict(
            enabled=True,
            features=512,
            num_blocks=2,
            dropout=0.25,
            focal_prior=2.29,
            depth_prior=5.0,
            log_range=3.0,
            root_ray=True,
        )
    )
    m.generator = ml_collections.ConfigDict(
        dict(
            features=256,
            num_blocks=2,
            noise_dim=48,
            bl_limit=0.2,
            depth_prior=5.0,
            depth_log_range=1.5,
            view_limit=0.5,
            translation="bounded",
            rotation="any",
            tilt_limit=math.radians(20.0),
            source_log_range=0.4,
            source_shift=0.1,
            ba_init_scale=1.0,
        )
    )
    m.disc_3d = ml_collections.ConfigDict(dict(features=256, mid_features=100))
    m.disc_2d = ml_collections.ConfigDict(dict(input_kind="kcs", features=256, mid_features=100))

    c.optim = o = ml_collections.ConfigDict()
    o.refiner = optimizer()
    o.lifter = optimizer()
    o.camera = optimizer()
    # PoseAug: lr_g = lr_d = 1e-4; with the end-to-end stage lr 5e-4 that is a scale of 0.2
    # there (and 1.0 in the 1e-4 warm-up: see joint.py).
    o.generator = optimizer()
    o.disc_3d = optimizer()
    o.disc_2d = optimizer()

    c.loss_weights = w = ml_collections.ConfigDict()
    w.refine = 1.0  # λref,ϕ: not in the paper; chosen (Eq. 4 values are ~1/J-scaled)
    w.refine_2d_only = 1.0  # λref,ϕ'
    w.camera = 0.01  # λcam (paper §4.3)
    w.reprojection = 0.5  # λ2D,ϕ
    w.reprojection_2d_only = 0.2  # λ2D,ϕ'
    w.pose_3d = 1.0  # λ3D
    w.adversarial_2d_only = 0.01  # D2D judgement of ϕ' reprojections (weight not in the paper)
    w.camera_fakes = 1.0  # x λcam on augmented pairs (1 = paper; 0 = camera loss on real only)
    w.reprojection_balance = 0.0  # Eq. 7 rows weighted by 2D size^(-2p) (0 = paper; 1 = balanced)
    w.refiner_downstream = 1.0  # x the gradient of the 3D/camera losses into the refiner (0 = off)
    # Bone-length prior on the 2D-only rows' 3D: mean over bones of (|b| / l - 1)^2, l the
    # batch pairs' mean bone lengths (not in the paper; 0 = off). Both end-to-end step paths.
    w.bone_prior_2d_only = 0.0
    # Each bone's share of the total length against the pairs' (0 = off; not in the paper).
    w.bone_ratio_2d_only = 0.0
    # Novel views of the 2D-only lifts (0 = off; not in the paper): the 2D discriminator's
    # judgement of them, and lift-turn-lift consistency; turned about the camera's y axis
    # ('camera') or the lifted pose's spine ('spine'), elevation within +-degrees.
    w.novel_view_2d_only = 0.0
    w.relift_2d_only = 0.0
    w.novel_view_axis = "camera"
    w.novel_view_elevation = 20.0
    # The 3D discriminator's judgement of the 2D-only lifts (0 = off; not in the paper).
    w.adversarial_3d_2d_only = 0.0

    c.gan = g = ml_collections.ConfigDict()
    g.adv_2d = 1.0
    g.adv_3d = 6.0
    g.range = 3.0
    g.ba_range_center = 0.205
    g.ba_range_radius = 0.165
    g.bl_range = 0.1
    g.feedback_ba = 0.1
    g.feedback_rt = 0.01
    g.hard_ba_start = 3.0
    g.hard_ba_end = 5.0
    g.hard_ba_radius = 2.0
    g.hard_rt_center = 17.0
    g.hard_rt_radius = 15.0
    g.max_aug_coord = 1.0
    g.min_aug_depth = 0.1
    g.fake_pair_weight = 1.0  # a usable augmented pair's weight in the lifter's loss (real: 1)
    g.project_clip = 0.0  # PoseAug: 1.0 (X/Z, Y/Z of generated poses clipped to [-1, 1])
    g.pool_batches = 4  # pool size = pool_batches * batch_size (PoseAug: 4096 = 4 x 1024)
    g.disc_every = 1  # discriminators updated every k-th GAN iteration (PoseAug's df: 2)
    g.feedback_batches = "shared"  # feedback passes: 1 BatchNorm batch | "separate" (PoseAug)

    c.stages = st = ml_collections.ConfigDict()
    st.order = "refiner,warmup,end_to_end"
    st.epoch_scale = 1.0
    st.refiner = stage("refiner", epochs=100, lr=1e-4, decay_epochs=(30, 60, 90), validate=False)
    st.pretrain = stage("supervised", epochs=50, lr=1e-3, decay_epochs=(), train_camera=False)
    st.warmup = stage(
        "gan", epochs=10, lr=1e-4, train_on_fakes=False, use_2d_only=False, feedback=False
    )
    st.end_to_end = stage(
        "gan",
        epochs=75,
        lr=5e-4,
        decay_epochs=(30, 60),
        warmup_epochs=3.0,
        train_on_fakes=True,
        use_2d_only=True,
        feedback=True,
        train_refiner=True,
    )

    c.train = t = ml_collections.ConfigDict()
    t.batch_size = 1024  # global (all devices of all hosts)
    t.two_d_only_batch_size = 1024
    t.sync_every = 8  # host sync (metric fetch) interval; <= 8 on jax 0.10.2 CPU
    t.checkpoint_every = 1000  # steps; also at every stage end
    t.keep_checkpoints = 2
    t.num_devices = 0  # 0 = all devices of all processes
    # JAX's persistent compile cache: 'default' = $CPOSE_CACHE_DIR/xla or ~/.cache/cpose_jax/xla
    # (a resume or a second run skips most of the ~65 s of compilation), a directory, or '' (off).
    t.compilation_cache = "default"
    t.progress = True
    t.tensorboard = True
    # Every k-th epoch of a GAN stage, the coverage of the generator's fakes beyond the
    # training poses (`steps.make_coverage_fn`: a few hundred nearest-neighbour searches on
    # the host; 0 = off).
    t.coverage_every = 5
    t.kill_at_step = 0  # testing aid: SIGKILL this process after that global step (0 = off)

    c.eval = e = ml_collections.ConfigDict()
    e.flip = False  # test-time flip augmentation
    e.batch_size = 2048
    e.val_max_samples = 0  # 0 = whole validation set at every validation
    # >0: also score the first N samples of every test set at each validation (logged as
    # test/<set>/<metric>; never used for model selection). For reports (experiments/report/).
    e.test_samples_each_epoch = 0
    return c


def load_config(spec: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
    """`FILE[:VARIANTS]` and `--config.KEY=VALUE` overrides, parsed as `experiments.run` parses
    its `--config` flag (ml_collections `config_flags`, locked: an unknown key is an error,
    values are type-checked). Raises ValueError with the flag parser's message."""
    from absl import flags
    from ml_collections import config_flags

    argv = ["load_config", f"--config={spec}", *overrides]
    values = flags.FlagValues()
    config_flags.DEFINE_config_file(
        "config", None, "", flag_values=values, lock_config=True, sys_argv=argv
    )
    try:
        values(argv)
    except (AttributeError, KeyError) as e:
        raise ValueError(f"unknown config key {e} in {' '.join(overrides)}") from None
    except flags.Error as e:  # the last line names the problem (not the parser's traceback)
        raise ValueError(str(e).strip().splitlines()[-1]) from None
    return values.config


def apply_variants(config: ml_collections.ConfigDict, arg: str | None, handlers: dict) -> None:
    """Apply comma-separated variant tokens (`smoke,detected`) with `handlers[token](config)`
    and suffix `config.name` with them (`joint_smoke_detected`: the default workdir)."""
    tokens = [t.strip() for t in (arg or "").split(",") if t.strip()]
    for token in tokens:
        if token not in handlers:
            raise ValueError(
                f"unknown config variant {token!r}; known: {', '.join(sorted(handlers))}"
            )
        handlers[token](config)
    if tokens:
        config.name = "_".join([config.name, *tokens])


def cpu_budget(config: ml_collections.ConfigDict) -> None:
    """The synthetic-world default of every experiment: the paper's schedule shape scaled to a
    CPU (an epoch = 6% of a pass over the 40k lab pairs, batch 256), validation on 4096
    lab_val samples (see the runbook in experiments/joint.py)."""
    config.stages.epoch_scale = 0.06
    config.train.batch_size = 256
    config.train.two_d_only_batch_size = 256
    config.train.checkpoint_every = 200
    config.eval.val_max_samples = 4096


def paper(config: ml_collections.ConfigDict) -> None:
    """The paper's exact schedule and batch size (for real data)."""
    config.stages.epoch_scale = 1.0
    config.train.batch_size = 1024
    config.train.two_d_only_batch_size = 1024
    config.gan.pool_batches = 4


def _small_networks(
    config: ml_collections.ConfigDict, *, lifter_features: int, lifter_blocks: int, features: int
) -> None:
    """The lifter at its own size; every other network `features` wide without residual blocks
    (fewer ops: compile time dominates a small run), the discriminators' middle layer half that."""
    config.model.lifter.features = lifter_features
    config.model.lifter.num_blocks = lifter_blocks
    for net in ("refiner", "camera", "generator"):
        config.model[net].features = features
        config.model[net].num_blocks = 0
    for net in ("disc_3d", "disc_2d"):
        config.model[net].features = features
        config.model[net].mid_features = features // 2


def _short_stages(
    config: ml_collections.ConfigDict, *, epochs: int, decay_epochs: tuple[int, ...]
) -> None:
    """Every stage the experiments define, `epochs` long with lr decays at `decay_epochs`."""
    for name in ("refiner", "pretrain", "warmup", "end_to_end"):
        config.stages[name].epochs = epochs
        config.stages[name].decay_epochs = decay_epochs


def smoke(config: ml_collections.ConfigDict) -> None:
    """Seconds-scale run: tiny synthetic world and networks, one short epoch per stage."""
    config.data.synthetic.scale = 0.02
    _small_networks(config, lifter_features=64, lifter_blocks=1, features=32)
    config.stages.epoch_scale = 1.0
    _short_stages(config, epochs=2, decay_epochs=(1,))
    config.train.batch_size = 64
    config.train.two_d_only_batch_size = 64
    config.train.checkpoint_every = 20
    config.eval.batch_size = 256


def tiny(config: ml_collections.ConfigDict) -> None:
    """Test-sized: the smallest networks (no residual blocks), a 1% world, batch 32, 8 steps
    per epoch, no progress bar. Used by the test suite (fast compiles)."""
    smoke(config)
    config.data.synthetic.scale = 0.01
    _small_networks(config, lifter_features=32, lifter_blocks=0, features=16)
    config.model.generator.noise_dim = 8
    _short_stages(config, epochs=1, decay_epochs=())
    config.stages.epoch_scale = 0.64  # 400 pairs / 32 = 12 batches -> 8 steps per epoch
    config.train.batch_size = 32
    config.train.two_d_only_batch_size = 32
    config.gan.pool_batches = 2
    config.train.checkpoint_every = 4
    config.train.sync_every = 4
    config.train.progress = False
    config.train.tensorboard = False
    config.eval.batch_size = 64


def detected(config: ml_collections.ConfigDict) -> None:
    """Detected 2D (with confidences) as input instead of ground truth (paper Table 5)."""
    config.data.input_2d = "detections"


def no_refiner(config: ml_collections.ConfigDict) -> None:
    """Without the refinement network (Table 5 ablation)."""
    config.model.refiner.enabled = False
    order = [s for s in config.stages.order.split(",") if s != "refiner"]
    config.stages.order = ",".join(order)


def with_refiner(config: ml_collections.ConfigDict) -> None:
    """Add the refinement network (its own stage first, then trained end to end)."""
    config.model.refiner.enabled = True
    order = [s for s in config.stages.order.split(",") if s != "refiner"]
    config.stages.order = ",".join(["refiner", *order])
    for name in order:
        if config.stages[name].kind == "gan" and config.stages[name].train_on_fakes:
            config.stages[name].train_refiner = True


# The variants every experiment file accepts (each adds its own, e.g. 'no_refiner').
VARIANTS = {"paper": paper, "smoke": smoke, "tiny": tiny, "detected": detected}


# ------------------------------------------------------------------------------- validation


def check_config(config: ml_collections.ConfigDict) -> None:
    """Refuses values no run can use, with a one-line message naming the key (ValueError).

    Called by `experiments.run` before anything is written; the type of every key is already
    checked by ml_collections. Topology checks (stage kinds, divisibility by the device count,
    data files) follow in `experiments.build`, also before anything is written.
    """

    def need(ok: bool, key: str, value, rule: str) -> None:
        if not ok:
            raise ValueError(f"config: {key}={value!r}: must be {rule}")

    def finite(x) -> bool:
        return isinstance(x, int | float) and x == x and abs(x) != float("inf")

    t, e = config.train, config.eval
    for key in ("batch_size", "two_d_only_batch_size"):
        need(t[key] >= 1, f"train.{key}", t[key], ">= 1")
    need(e.batch_size >= 1, "eval.batch_size", e.batch_size, ">= 1")
    for key in ("sync_every", "checkpoint_every", "keep_checkpoints"):
        need(t[key] >= 1, f"train.{key}", t[key], ">= 1")
    need(t.num_devices >= 0, "train.num_devices", t.num_devices, ">= 0 (0 = all devices)")
    need(e.val_max_samples >= 0, "eval.val_max_samples", e.val_max_samples, ">= 0")
    every = config.gan.disc_every
    need(isinstance(every, int) and every >= 1, "gan.disc_every", every, "an integer >= 1")
    from cpose_jax.train.settings import FEEDBACK_BATCHES  # (this module imports no JAX)

    fb = config.gan.feedback_batches
    need(fb in FEEDBACK_BATCHES, "gan.feedback_batches", fb, f"one of {FEEDBACK_BATCHES}")
    scale = config.stages.epoch_scale
    need(finite(scale) and scale > 0, "stages.epoch_scale", scale, "a finite number > 0")
    for name in (s.strip() for s in config.stages.order.split(",") if s.strip()):
        if name not in config.stages or not isinstance(
            config.stages[name], ml_collections.ConfigDict
        ):
            continue  # experiments.build names the unknown stage
        st = config.stages[name]
        key = f"stages.{name}"
        need(finite(st.lr) and st.lr >= 0, f"{key}.lr", st.lr, "a finite number >= 0")
        need(st.epochs >= 0, f"{key}.epochs", st.epochs, ">= 0")
        need(st.warmup_epochs >= 0, f"{key}.warmup_epochs", st.warmup_epochs, ">= 0")
        need(
            finite(st.decay_factor) and st.decay_factor > 0,
            f"{key}.decay_factor",
            st.decay_factor,
            "a finite number > 0",
        )
    for net, o in config.optim.items():
        for k in ("lr_scale", "clip_norm", "weight_decay"):
            need(finite(o[k]) and o[k] >= 0, f"optim.{net}.{k}", o[k], "a finite number >= 0")
        for k in ("b1", "b2"):
            need(0 <= o[k] < 1, f"optim.{net}.{k}", o[k], "in [0, 1)")
    from cpose_jax.train.settings import NOVEL_VIEW_AXES

    for k, w in config.loss_weights.items():
        if k == "novel_view_axis":
            need(w in NOVEL_VIEW_AXES, f"loss_weights.{k}", w, f"one of {NOVEL_VIEW_AXES}")
        else:
            need(finite(w) and w >= 0, f"loss_weights.{k}", w, "a finite number >= 0")
    for net, m in config.model.items():
        if "features" in m:
            need(m.features >= 1, f"model.{net}.features", m.features, ">= 1")
        if "num_blocks" in m:
            need(m.num_blocks >= 0, f"model.{net}.num_blocks", m.num_blocks, ">= 0")
        if "dropout" in m:
            need(0 <= m.dropout < 1, f"model.{net}.dropout", m.dropout, "in [0, 1)")
