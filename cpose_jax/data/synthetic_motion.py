"""Procedural human movements for the synthetic world: poses sampled along motion trajectories.

A movement is a function of a phase ``p`` in [0, 1) (one gait cycle, one jump, one sit-to-stand,
one roll, ...) and of a per-subject style, returning joint angles of the body model
(:mod:`.synthetic_body`), a root orientation and a lift above the ground. Poses of the world are
drawn at random phases along these trajectories, so they are the coordinated poses people take
(arm swing locked to the legs, weight shifts, pelvis rotation) rather than independent draws of
every angle; :func:`trajectory` gives the frames of a whole movement (figures, tests).

Movements (:data:`MOVEMENTS`), grouped as the world uses them:

* everyday (Human3.6M's activity set): standing (weight shifts, idle arms), walking (gait cycle:
  hip/knee curves of normal gait, arm swing opposite the legs, pelvis rotation and obliquity,
  counter-rotating thorax), sitting (seated activities), sit_to_stand (and back), squat_pickup
  (squat or stoop to the floor and back), reaching, gesturing (talking, waving, pointing),
  hand_to_face (phoning, eating, drinking);
* sport: running, jumping (crouch, take-off, flight, landing), kicking (front and side),
  punching (guard, alternating straight punches), dancing (sums of sines, per-subject
  rhythm and figures);
* rare (floor and inverted, the "unseen poses" of the paper's cross-scenario test): crawling,
  lying, rolling (log roll and forward roll), getting_up (from the back or the front),
  handstand, cartwheel, flip (tucked backward somersault).

Style (:func:`sample_styles`): per subject, an amplitude factor, gait stride, arm swing, elbow
carriage, posture (trunk and neck flexion), and a per-angle bias; plus per-frame noise. Its key
``rhythm`` holds the variant draws (:func:`sample_variants`: which dance figure, gesture, lying
position, roll), which the world redraws for every pose. Angles are clipped to the anatomical
limits (``synthetic_body.ANGLE_LIMITS``).

The gait curves follow the textbook shape of normal walking (hip flexion +30 deg at heel strike
to -10 deg at toe-off, knee ~15 deg loading response and ~60 deg peak swing flexion, arm swing
about 20 deg opposite to the ipsilateral leg); the other movements are keyframed by hand and
were checked against the held-out real capture listed in ``docs/MOTION_SOURCES.md``.
"""

from __future__ import annotations

import numpy as np

from cpose_jax.data import synthetic_body as body

__all__ = [
    "EVERYDAY",
    "FAMILIES",
    "MOVEMENTS",
    "RARE",
    "SPORT",
    "sample_movement",
    "sample_styles",
    "sample_variants",
    "trajectory",
]

EVERYDAY = (
    "standing", "walking", "sitting", "sit_to_stand", "squat_pickup", "reaching", "gesturing",
    "hand_to_face",
)  # fmt: skip
SPORT = ("running", "jumping", "kicking", "punching", "dancing")
RARE = ("crawling", "lying", "rolling", "getting_up", "handstand", "cartwheel", "flip")
MOVEMENTS = EVERYDAY + SPORT + RARE
#: Movement families, the units a leave-one-family-out test holds out of training (every
#: movement in exactly one family).
FAMILIES = {
    "everyday": tuple(m for m in EVERYDAY if m != "walking"),
    "locomotion": ("walking", "running", "jumping"),
    "martial": ("kicking", "punching"),
    "dance": ("dancing",),
    "floor": ("crawling", "lying", "rolling", "getting_up"),
    "acrobatics": ("handstand", "cartwheel", "flip"),
}

_NA = len(body.ANGLE_NAMES)
_A = {n: i for i, n in enumerate(body.ANGLE_NAMES)}
_TWO_PI = 2.0 * np.pi

# Neutral standing pose (degrees); keyframes list only what differs from it.
_NEUTRAL = dict(
    l_hip_abd=4, r_hip_abd=4, l_knee_flex=4, r_knee_flex=4, l_sho_flex=4, r_sho_flex=4,
    l_sho_abd=9, r_sho_abd=9, l_sho_rot=10, r_sho_rot=10, l_elbow_flex=15, r_elbow_flex=15,
    lumbar_flex=3, thor_flex=3, neck_flex=5,
)  # fmt: skip
_EXTRA = ("pitch", "roll", "spin", "lift")  # root: forward lean, sideways roll, yaw about body z


def sample_styles(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """``n`` subject styles: scalars ``(n,)`` and a per-angle ``bias`` ``(n, 25)`` degrees."""
    return dict(
        amp=np.clip(rng.normal(1.0, 0.12, n), 0.75, 1.3),
        stride=np.clip(rng.normal(1.0, 0.15, n), 0.65, 1.35),
        arm_swing=np.clip(rng.normal(1.0, 0.3, n), 0.3, 1.7),
        elbow=rng.normal(0.0, 8.0, n),
        posture=rng.normal(0.0, 4.0, n),
        neck=rng.normal(0.0, 6.0, n),
        rhythm=sample_variants(rng, n),
        bias=rng.normal(0.0, 3.0, (n, _NA)),
    )


def sample_variants(rng: np.random.Generator, n: int) -> np.ndarray:
    """``(n, 8)`` uniform draws choosing the variant of a movement (style key ``rhythm``): which
    dance figure, gesture, sitting or lying position, log or forward roll, ... The world draws
    them per pose, so a subject does not repeat one variant of every movement."""
    return rng.uniform(0.0, 1.0, (n, 8))


def _style_rows(style, idx):
    return {k: v[idx] for k, v in style.items()}


class _Out:
    """Angles ``(n, 25)`` (starting at neutral) and root extras, filled by a movement."""

    def __init__(self, n):
        self.a = np.zeros((n, _NA))
        for k, v in _NEUTRAL.items():
            self.a[:, _A[k]] = v
        self.x = {k: np.zeros(n) for k in _EXTRA}

    def set(self, name, v):
        self.a[:, _A[name]] = v

    def add(self, name, v):
        self.a[:, _A[name]] += v

    def both(self, suffix, v):
        self.set(f"l_{suffix}", v)
        self.set(f"r_{suffix}", v)


def _wrap(x):
    return (x + np.pi) % _TWO_PI - np.pi


def _bump(w, centre, width):
    return np.exp(-0.5 * (_wrap(w - centre) / width) ** 2)


def _keys(p, keys, *, periodic=False):
    """Smooth (cosine) interpolation of keyframes at phases ``p`` ``(n,)``.

    ``keys``: list of ``(phase, {name: value})``; names are angle names or :data:`_EXTRA`;
    an absent name is neutral (angles) or 0 (extras). Returns ``(angles (n,25), extras)``.
    """
    ph = np.array([k[0] for k in keys], float)
    names = list(body.ANGLE_NAMES) + list(_EXTRA)
    base = np.array([_NEUTRAL.get(nm, 0.0) for nm in names])
    vals = np.array([[d.get(nm, b) for nm, b in zip(names, base)] for _, d in keys])
    if periodic:
        ph, vals = np.append(ph, ph[0] + 1.0), np.vstack([vals, vals[:1]])
        p = ph[0] + (p - ph[0]) % 1.0
    p = np.clip(p, ph[0], ph[-1])
    i = np.clip(np.searchsorted(ph, p, side="right") - 1, 0, len(ph) - 2)
    t = (p - ph[i]) / np.maximum(ph[i + 1] - ph[i], 1e-9)
    s = 0.5 - 0.5 * np.cos(np.pi * t)
    v = vals[i] * (1 - s)[:, None] + vals[i + 1] * s[:, None]
    return v[:, :_NA], {k: v[:, _NA + j] for j, k in enumerate(_EXTRA)}


def _apply_keys(o: _Out, p, keys, *, periodic=False, amp=None):
    a, x = _keys(p, keys, periodic=periodic)
    if amp is not None:  # scale the deviation from neutral
        base = o.a.copy()
        a = base + (a - base) * amp[:, None]
    o.a[:] = a
    for k in _EXTRA:
        o.x[k] = x[k]


def _apply_either(o: _Out, p, first, keys_1, keys_2):
    """Per sample, the keyframes ``keys_1`` where ``first`` ``(n,)`` is True, else ``keys_2``."""
    a1, x1 = _keys(p, keys_1)
    a2, x2 = _keys(p, keys_2)
    o.a[:] = np.where(first[:, None], a1, a2)
    for k in _EXTRA:
        o.x[k] = np.where(first, x1[k], x2[k])


# ------------------------------------------------------------------ everyday


def _standing(o, p, s):
    w = _TWO_PI * p
    shift = np.sin(w)  # weight from one leg to the other
    o.set("l_hip_abd", 4 + 4 * shift)
    o.set("r_hip_abd", 4 - 4 * shift)
    o.set("lumbar_side", 3 * shift)
    o.set("l_knee_flex", 4 + 6 * np.clip(-shift, 0, None))
    o.set("r_knee_flex", 4 + 6 * np.clip(shift, 0, None))
    arms = s["rhythm"][:, 0]
    # hands: hanging, on hips, crossed, behind the back
    o.both("elbow_flex", np.select([arms < 0.4, arms < 0.6, arms < 0.8], [15, 100, 110], 60))
    o.both("sho_abd", np.select([arms < 0.4, arms < 0.6, arms < 0.8], [9, 40, 20], 15))
    o.both("sho_flex", np.select([arms < 0.4, arms < 0.6, arms < 0.8], [5, 0, 35], -30))
    o.both("sho_rot", np.select([arms < 0.4, arms < 0.6, arms < 0.8], [10, 40, 60], 50))
    o.set("neck_twist", 25 * np.sin(w * 2 + 6 * s["rhythm"][:, 1]))


def _gait(o, p, s, *, run: bool):
    w = _TWO_PI * p
    st, arm = s["stride"], s["arm_swing"]
    if run:
        hip_c, hip_a, knee_sw, knee_st, sho_a, elb = 20, 32, 95, 35, 30, 85
    else:
        hip_c, hip_a, knee_sw, knee_st, sho_a, elb = 10, 20, 58, 15, 16, 20
    for side, off in (("l", 0.0), ("r", np.pi)):
        wl = w + off
        # Heel strike at hip peak flexion (wl = pi/2); swing while the hip flexes.
        o.set(f"{side}_hip_flex", hip_c + hip_a * st * np.sin(wl))
        knee = 3 + knee_sw * st * _bump(wl, -0.35, 0.75) + knee_st * _bump(wl, np.pi / 2 + 0.6, 0.5)
        o.set(f"{side}_knee_flex", knee)
        o.set(f"{side}_hip_rot", -3 * np.sin(wl))
        # Arm swings with the OPPOSITE leg (in phase with the contralateral hip).
        o.set(f"{side}_sho_flex", 4 - sho_a * arm * np.sin(wl))
        o.set(f"{side}_elbow_flex", elb + s["elbow"] + (8 if not run else 15) * (1 - np.sin(wl)))
        o.set(f"{side}_sho_abd", 8 + (6 if run else 0))
    o.x["spin"] = (6 if not run else 10) * st * np.sin(w)  # pelvis rotation
    o.x["roll"] = 4 * np.sin(w + np.pi / 2)  # pelvis obliquity
    o.set("lumbar_twist", -(8 if not run else 14) * st * np.sin(w))  # thorax counter-rotation
    o.set("lumbar_flex", (5 if not run else 10) + s["posture"])
    o.x["pitch"] = 3 if not run else 9
    if run:  # flight phase twice per cycle
        o.x["lift"] = 0.07 * st * np.clip(np.cos(2 * w + 0.4), 0, None)


def _walking(o, p, s):
    _gait(o, p, s, run=False)


def _running(o, p, s):
    _gait(o, p, s, run=True)


def _sitting(o, p, s):
    v = s["rhythm"][:, 0]
    o.both("hip_flex", 88 + 10 * (v - 0.5))
    o.both("knee_flex", 90 + 25 * (s["rhythm"][:, 1] - 0.5))
    o.both("hip_abd", 8 + 12 * s["rhythm"][:, 2])
    cross = s["rhythm"][:, 3] < 0.25  # legs crossed
    o.a[cross, _A["l_hip_flex"]] += 15
    o.a[cross, _A["l_hip_abd"]] = -10
    o.a[cross, _A["l_knee_flex"]] = 70
    w = _TWO_PI * p
    lean = np.sin(w)  # lean to the table and back
    o.set("lumbar_flex", 8 + 15 * lean)
    o.x["pitch"] = 5 + 10 * lean
    o.both("sho_flex", 25 + 25 * np.clip(lean, 0, None))
    o.both("elbow_flex", 70 + 30 * np.clip(lean, 0, None))
    o.set("neck_flex", 15 + 10 * lean)
    o.set("neck_twist", 20 * np.sin(2 * w))


def _sit_to_stand(o, p, s):
    seat = dict(l_hip_flex=90, r_hip_flex=90, l_knee_flex=90, r_knee_flex=90, l_sho_flex=20,
                r_sho_flex=20, l_elbow_flex=60, r_elbow_flex=60)  # fmt: skip
    lean = dict(seat, lumbar_flex=20, pitch=25, l_hip_flex=105, r_hip_flex=105, l_sho_flex=40,
                r_sho_flex=40)  # fmt: skip
    rise = dict(l_hip_flex=60, r_hip_flex=60, l_knee_flex=55, r_knee_flex=55, lumbar_flex=15,
                pitch=25, l_sho_flex=30, r_sho_flex=30)  # fmt: skip
    keys = [(0.0, seat), (0.2, lean), (0.35, rise), (0.5, {}), (0.6, {}), (0.72, rise),
            (0.85, lean), (1.0, seat)]  # fmt: skip
    _apply_keys(o, p, keys, amp=s["amp"])


def _squat_pickup(o, p, s):
    squat = dict(l_hip_flex=110, r_hip_flex=110, l_knee_flex=125, r_knee_flex=125, l_hip_abd=20,
                 r_hip_abd=20, lumbar_flex=25, pitch=25, l_sho_flex=60, r_sho_flex=60,
                 l_elbow_flex=20, r_elbow_flex=20, neck_flex=-10)  # fmt: skip
    stoop = dict(l_hip_flex=75, r_hip_flex=75, l_knee_flex=25, r_knee_flex=25, lumbar_flex=35,
                 thor_flex=15, pitch=60, l_sho_flex=100, r_sho_flex=100, l_elbow_flex=10,
                 r_elbow_flex=10, neck_flex=-25)  # fmt: skip
    keys_sq = [(0.0, {}), (0.4, squat), (0.6, squat), (1.0, {})]
    keys_st = [(0.0, {}), (0.4, stoop), (0.6, stoop), (1.0, {})]
    _apply_either(o, p, s["rhythm"][:, 0] < 0.5, keys_sq, keys_st)


def _reaching(o, p, s):
    w = np.sin(np.pi * p)  # out and back
    tgt = s["rhythm"][:, :3]
    flex = 30 + 140 * tgt[:, 0]  # forward .. overhead
    abd = 70 * tgt[:, 1]
    side = tgt[:, 2] < 0.5
    for sd, m in (("l", side), ("r", ~side)):
        o.a[m, _A[f"{sd}_sho_flex"]] = (4 + (flex - 4) * w)[m]
        o.a[m, _A[f"{sd}_sho_abd"]] = (9 + abd * w)[m]
        o.a[m, _A[f"{sd}_elbow_flex"]] = (40 - 30 * w)[m]
    o.set("lumbar_twist", np.where(side, 12, -12) * w * tgt[:, 1])
    o.set("lumbar_side", np.where(side, -8, 8) * w * (flex > 120))
    o.x["pitch"] = 10 * w * (flex < 80)
    o.set("neck_flex", 5 - 20 * w * (flex > 120))


def _gesturing(o, p, s):
    w = _TWO_PI * p
    r = s["rhythm"]
    kind = r[:, 0]
    # talking: both forearms up and moving; waving: one arm up, forearm oscillating; pointing.
    talk = kind < 0.5
    wave = (kind >= 0.5) & (kind < 0.75)
    o.both("sho_flex", 20 + 15 * np.sin(w + 6 * r[:, 1]))
    o.both("sho_abd", 15 + 10 * np.sin(w * 2 + 6 * r[:, 2]))
    o.both("elbow_flex", 80 + 25 * np.sin(w + 6 * r[:, 3]))
    o.a[wave, _A["l_sho_flex"]] = 60
    o.a[wave, _A["l_sho_abd"]] = 100 + 10 * np.sin(w[wave])
    o.a[wave, _A["l_sho_rot"]] = -40
    o.a[wave, _A["l_elbow_flex"]] = 60 + 30 * np.sin(3 * w[wave])
    o.a[wave, _A["r_sho_flex"]] = 5
    o.a[wave, _A["r_elbow_flex"]] = 15
    point = ~(talk | wave)
    o.a[point, _A["l_sho_flex"]] = 80 + 15 * np.sin(w[point])
    o.a[point, _A["l_sho_abd"]] = 20 + 40 * r[point, 4]
    o.a[point, _A["l_elbow_flex"]] = 5
    o.a[point, _A["r_sho_flex"]] = 5
    o.a[point, _A["r_elbow_flex"]] = 20
    o.set("lumbar_twist", 8 * np.sin(w + 6 * r[:, 5]))
    o.set("neck_twist", 30 * np.sin(w + 6 * r[:, 6]))
    o.set("l_hip_abd", 4 + 4 * np.sin(w / 2))


def _hand_to_face(o, p, s):
    w = np.clip(np.sin(np.pi * p) * 1.6, 0, 1)  # up, hold, down
    o.set("l_sho_flex", 4 + 40 * w)
    o.set("l_sho_abd", 9 + 20 * w)
    o.set("l_sho_rot", 10 + 20 * w)
    o.set("l_elbow_flex", 15 + 125 * w)
    o.set("r_elbow_flex", 15 + 75 * (s["rhythm"][:, 0] < 0.5))
    o.set("r_sho_flex", 4 + 25 * (s["rhythm"][:, 0] < 0.5))
    o.set("neck_flex", 5 + 8 * w)
    seated = s["rhythm"][:, 1] < 0.35
    for k in ("l_hip_flex", "r_hip_flex"):
        o.a[seated, _A[k]] = 88
    for k in ("l_knee_flex", "r_knee_flex"):
        o.a[seated, _A[k]] = 90


# ------------------------------------------------------------------ sport


def _jumping(o, p, s):
    crouch = dict(l_hip_flex=70, r_hip_flex=70, l_knee_flex=95, r_knee_flex=95, lumbar_flex=20,
                  pitch=25, l_sho_flex=-45, r_sho_flex=-45, l_elbow_flex=10,
                  r_elbow_flex=10)  # fmt: skip
    take = dict(l_hip_flex=-5, r_hip_flex=-5, l_knee_flex=5, r_knee_flex=5, l_sho_flex=150,
                r_sho_flex=150, l_elbow_flex=10, r_elbow_flex=10, pitch=5, lift=0.05)  # fmt: skip
    fly = dict(l_hip_flex=45, r_hip_flex=45, l_knee_flex=70, r_knee_flex=70, l_sho_flex=110,
               r_sho_flex=110, lift=0.35)  # fmt: skip
    land = dict(crouch, l_sho_flex=40, r_sho_flex=40, l_hip_flex=60, r_hip_flex=60)
    keys = [(0.0, {}), (0.25, crouch), (0.38, take), (0.55, fly), (0.7, take | {"lift": 0.02}),
            (0.82, land), (1.0, {})]  # fmt: skip
    _apply_keys(o, p, keys, amp=s["amp"])
    o.x["lift"] = o.x["lift"] * s["stride"]
    star = s["rhythm"][:, 0] < 0.3  # star jump: legs and arms out
    wstar = np.sin(np.pi * p[star])
    o.a[star, _A["l_hip_abd"]] = 4 + 35 * wstar
    o.a[star, _A["r_hip_abd"]] = 4 + 35 * wstar
    o.a[star, _A["l_sho_abd"]] = 9 + 150 * wstar
    o.a[star, _A["r_sho_abd"]] = 9 + 150 * wstar
    o.a[star, _A["l_sho_flex"]] = 10
    o.a[star, _A["r_sho_flex"]] = 10


def _kicking(o, p, s):
    guard = dict(l_sho_flex=45, r_sho_flex=45, l_elbow_flex=110, r_elbow_flex=110, l_sho_abd=20,
                 r_sho_abd=20, l_knee_flex=15, r_knee_flex=15)  # fmt: skip
    chamber = dict(guard, l_hip_flex=95, l_knee_flex=110, pitch=-10)
    front = dict(guard, l_hip_flex=100, l_knee_flex=5, pitch=-20, lumbar_flex=-10)
    side_ch = dict(guard, l_hip_flex=70, l_hip_abd=40, l_knee_flex=110, roll=-25, l_hip_rot=-30)
    side = dict(guard, l_hip_flex=30, l_hip_abd=50, l_knee_flex=5, roll=-45, l_hip_rot=-35)
    k1 = [(0.0, guard), (0.3, chamber), (0.45, front), (0.6, chamber), (0.85, guard), (1.0, guard)]
    k2 = [(0.0, guard), (0.3, side_ch), (0.45, side), (0.6, side_ch), (0.85, guard), (1.0, guard)]
    _apply_either(o, p, s["rhythm"][:, 0] < 0.6, k1, k2)


def _punching(o, p, s):
    guard = dict(l_sho_flex=45, r_sho_flex=45, l_elbow_flex=115, r_elbow_flex=115, l_sho_abd=15,
                 r_sho_abd=15, l_knee_flex=20, r_knee_flex=20, l_hip_flex=20, r_hip_flex=-5,
                 pitch=5)  # fmt: skip
    jab = dict(guard, l_sho_flex=90, l_sho_abd=5, l_elbow_flex=5, lumbar_twist=-15)
    cross = dict(guard, r_sho_flex=90, r_sho_abd=5, r_elbow_flex=5, lumbar_twist=25, spin=-15)
    upper = dict(guard, r_sho_flex=70, r_elbow_flex=80, lumbar_twist=15, r_knee_flex=35)
    keys = [(0.0, guard), (0.12, jab), (0.25, guard), (0.45, cross), (0.6, guard), (0.8, upper),
            (0.92, guard)]  # fmt: skip
    _apply_keys(o, p, keys, periodic=True)


def _dancing(o, p, s):
    w = _TWO_PI * p
    r = s["rhythm"]
    f = 1 + np.floor(3 * r[:, :4])  # per-subject figure frequencies
    o.set("l_sho_flex", 40 + 70 * np.sin(f[:, 0] * w + 6 * r[:, 4]))
    o.set("r_sho_flex", 40 + 70 * np.sin(f[:, 0] * w + 6 * r[:, 5]))
    o.set("l_sho_abd", 50 + 50 * np.sin(f[:, 1] * w + 6 * r[:, 6]))
    o.set("r_sho_abd", 50 + 50 * np.sin(f[:, 1] * w + 6 * r[:, 7]))
    o.both("elbow_flex", 50 + 40 * np.sin(f[:, 2] * w))
    bounce = np.abs(np.sin(2 * w))
    o.set("l_knee_flex", 10 + 25 * bounce + 30 * np.clip(np.sin(w), 0, None))
    o.set("r_knee_flex", 10 + 25 * bounce + 30 * np.clip(-np.sin(w), 0, None))
    o.set("l_hip_flex", 10 + 35 * np.clip(np.sin(w), 0, None))
    o.set("r_hip_flex", 10 + 35 * np.clip(-np.sin(w), 0, None))
    o.set("l_hip_abd", 8 + 15 * np.sin(f[:, 3] * w))
    o.set("r_hip_abd", 8 - 15 * np.sin(f[:, 3] * w))
    o.set("lumbar_side", 15 * np.sin(w))
    o.set("lumbar_twist", 15 * np.sin(f[:, 3] * w + 1))
    o.set("thor_side", 8 * np.sin(w + 1))
    o.x["spin"] = 20 * np.sin(w / 2)
    o.x["lift"] = 0.08 * np.clip(np.sin(2 * w + 6 * r[:, 0]), 0, None) * (r[:, 1] < 0.5)


# ------------------------------------------------------------------ rare: floor and inverted


def _crawling(o, p, s):
    w = _TWO_PI * p
    o.x["pitch"] = 80
    for side, off in (("l", 0.0), ("r", np.pi)):
        o.set(f"{side}_hip_flex", 90 + 18 * np.sin(w + off))
        o.set(f"{side}_knee_flex", 100 + 15 * np.sin(w + off + 0.5))
        o.set(f"{side}_sho_flex", 90 - 18 * np.sin(w + off))  # opposite arm with the leg
        o.set(f"{side}_elbow_flex", 10 + 10 * np.clip(np.sin(w + off), 0, None))
        o.set(f"{side}_hip_abd", 10)
    o.set("neck_flex", -40)
    o.set("lumbar_flex", 0)
    o.set("lumbar_twist", 6 * np.sin(w))


def _lying(o, p, s):
    """On the back (45 %), front (35 %) or side (20 %); arms and legs rest where a lying person
    puts them (on the floor, on the chest or under the head, knees up), never into the floor."""
    w = _TWO_PI * p
    r = s["rhythm"]
    back, side = r[:, 0] < 0.45, r[:, 0] >= 0.8
    front = ~back & ~side
    o.x["pitch"] = np.where(front, 90.0, -90.0)
    o.x["spin"] = np.where(side, 90.0, 0.0)  # on the back, turned about the long axis
    # Legs: knees up with the feet on the floor (back), feet in the air behind (front),
    # curled (side); one leg moving with the phase.
    bend = r[:, 2]
    move = 0.5 + 0.5 * np.sin(w)
    hip = np.select([back, front], [5 + 50 * bend, 5 * bend], 20 + 60 * bend)
    knee = np.select([back, front], [5 + 95 * bend, 80 * bend], 30 + 70 * bend)
    o.both("hip_flex", hip)
    o.both("knee_flex", knee)
    o.add("l_hip_flex", np.where(front, 0.0, 15 * move * bend))
    o.add("l_knee_flex", 20 * move * bend)
    o.both("hip_abd", 5 + 10 * r[:, 7])
    # Arms, each its own choice: along the body, overhead, out to the side (on the back the
    # elbow bent or straight, on the front the forearm turned towards the head, in the floor's
    # plane), folded on the chest (back) or the hands by the head (front); forward (side).
    for sd, c, v in (("l", r[:, 3], r[:, 5]), ("r", r[:, 4], r[:, 6])):
        cases = [c < 0.3, c < 0.55, c < 0.8]
        flex_b = np.select(cases, [5 + 10 * v, 160 + 20 * v, 5 + 10 * v], 45)
        flex_f = np.select(cases, [-10 + 10 * v, 170 + 10 * v, -5 + 10 * v], 0)
        abd = np.select(
            cases, [5 + 40 * v, 5 + 25 * v, 70 + 30 * v], np.where(back, 15, 80 + 20 * v)
        )
        elbow_b = np.select(cases, [5 + 30 * v, 10 + 40 * v, 10 + 100 * v], 135)
        elbow_f = np.select(cases, [5 + 15 * v, 5 + 15 * v, 10 + 90 * v], 100 + 40 * v)
        rot = np.where(front & (c >= 0.55), -80.0, 10.0)
        o.set(f"{sd}_sho_flex", np.select([back, front], [flex_b, flex_f], 50 + 50 * c))
        o.set(f"{sd}_sho_abd", np.where(side, 10 + 20 * v, abd))
        o.set(f"{sd}_sho_rot", rot)
        o.set(f"{sd}_elbow_flex", np.select([back, front], [elbow_b, elbow_f], 10 + 100 * v))
    o.set("neck_flex", np.where(front, -20.0, np.where(back, 10.0, 0.0)))
    o.set("neck_twist", np.where(front, np.where(r[:, 1] < 0.5, -60.0, 60.0), 20 * (r[:, 1] - 0.5)))


def _rolling(o, p, s):
    log = s["rhythm"][:, 0] < 0.5
    ang = 360.0 * p
    # log roll: lying, turning about the long axis, arms overhead or at the sides
    o.x["pitch"] = np.where(log, 90.0, 0.0)
    o.x["spin"] = np.where(log, ang, 0.0)
    over = s["rhythm"][:, 1] < 0.5
    o.both("sho_flex", np.where(log & over, 170, np.where(log, 5, 60)))
    # forward roll: tucked, pitching forward through 360 degrees
    tuck = ~log
    o.x["pitch"] = np.where(tuck, ang, o.x["pitch"])
    o.a[tuck, _A["l_hip_flex"]] = 120
    o.a[tuck, _A["r_hip_flex"]] = 120
    o.a[tuck, _A["l_knee_flex"]] = 130
    o.a[tuck, _A["r_knee_flex"]] = 130
    o.a[tuck, _A["l_elbow_flex"]] = 90
    o.a[tuck, _A["r_elbow_flex"]] = 90
    o.a[tuck, _A["lumbar_flex"]] = 40
    o.a[tuck, _A["thor_flex"]] = 25
    o.a[tuck, _A["neck_flex"]] = 45


def _getting_up(o, p, s):
    back = dict(pitch=-90, l_knee_flex=10, r_knee_flex=10)
    sit = dict(pitch=-20, l_hip_flex=90, r_hip_flex=90, l_knee_flex=80, r_knee_flex=80,
               lumbar_flex=20, l_sho_flex=-30, r_sho_flex=-30, l_elbow_flex=10,
               r_elbow_flex=10)  # fmt: skip
    turn = dict(pitch=60, roll=20, l_hip_flex=95, r_hip_flex=70, l_knee_flex=120, r_knee_flex=100,
                l_sho_flex=80, r_sho_flex=80, lumbar_flex=15)  # fmt: skip
    kneel = dict(pitch=20, l_hip_flex=90, l_knee_flex=90, r_hip_flex=10, r_knee_flex=100,
                 l_sho_flex=30, r_sho_flex=30, l_elbow_flex=40, r_elbow_flex=40)  # fmt: skip
    rise = dict(pitch=25, l_hip_flex=70, l_knee_flex=70, r_hip_flex=30, r_knee_flex=30,
                lumbar_flex=15)  # fmt: skip
    front = dict(pitch=90, l_sho_flex=90, r_sho_flex=90, l_elbow_flex=100, r_elbow_flex=100)
    push = dict(pitch=70, l_sho_flex=90, r_sho_flex=90, l_elbow_flex=5, r_elbow_flex=5)
    hands_knees = dict(pitch=80, l_hip_flex=90, r_hip_flex=90, l_knee_flex=95, r_knee_flex=95,
                       l_sho_flex=90, r_sho_flex=90)  # fmt: skip
    k1 = [(0.0, back), (0.25, sit), (0.45, turn), (0.65, kneel), (0.82, rise), (1.0, {})]
    k2 = [(0.0, front), (0.2, push), (0.4, hands_knees), (0.6, kneel), (0.8, rise), (1.0, {})]
    _apply_either(o, p, s["rhythm"][:, 0] < 0.5, k1, k2)


def _handstand(o, p, s):
    w = _TWO_PI * p
    r = s["rhythm"]
    o.x["pitch"] = 180 + 8 * np.sin(w)
    o.both("sho_flex", 170)
    o.both("sho_abd", 15)
    o.both("elbow_flex", 5 + 10 * r[:, 0])
    split = 35 * r[:, 1] * np.sin(w)
    o.set("l_hip_flex", 5 + split)
    o.set("r_hip_flex", 5 - split)
    o.both("knee_flex", 5 + 60 * r[:, 2] * (0.5 + 0.5 * np.sin(w + 1)))
    o.set("lumbar_flex", -15 * r[:, 3])
    o.set("neck_flex", -30)


def _cartwheel(o, p, s):
    o.x["roll"] = 360.0 * p  # wheel about the forward axis
    # Arms up and legs apart from the lean-in to the landing, closing only when upright.
    wide = np.sqrt(np.sin(np.pi * p))
    o.both("sho_abd", 20 + 150 * wide)
    o.both("sho_flex", 10)
    o.both("elbow_flex", 5)
    o.both("hip_abd", 5 + 45 * wide)
    o.both("knee_flex", 5 + 10 * (1 - wide))
    o.x["lift"] = 0.05 * wide


def _flip(o, p, s):
    stand, crouch = {}, dict(l_hip_flex=70, r_hip_flex=70, l_knee_flex=90, r_knee_flex=90,
                             l_sho_flex=-40, r_sho_flex=-40, pitch=20)  # fmt: skip
    up = dict(l_sho_flex=170, r_sho_flex=170, lift=0.3, pitch=-30)
    tuck = dict(l_hip_flex=120, r_hip_flex=120, l_knee_flex=130, r_knee_flex=130, l_sho_flex=60,
                r_sho_flex=60, l_elbow_flex=90, r_elbow_flex=90, lift=0.7, pitch=-180)  # fmt: skip
    open_ = dict(l_hip_flex=30, r_hip_flex=30, l_knee_flex=40, r_knee_flex=40, l_sho_flex=120,
                 r_sho_flex=120, lift=0.3, pitch=-300)  # fmt: skip
    land = dict(crouch, pitch=-345, l_sho_flex=60, r_sho_flex=60)
    keys = [(0.0, stand), (0.2, crouch), (0.35, up), (0.55, tuck), (0.72, open_), (0.85, land),
            (1.0, dict(pitch=-360))]  # fmt: skip
    _apply_keys(o, p, keys)


_FUNCS = dict(
    standing=_standing, walking=_walking, sitting=_sitting, sit_to_stand=_sit_to_stand,
    squat_pickup=_squat_pickup, reaching=_reaching, gesturing=_gesturing,
    hand_to_face=_hand_to_face, running=_running, jumping=_jumping, kicking=_kicking,
    punching=_punching, dancing=_dancing, crawling=_crawling, lying=_lying, rolling=_rolling,
    getting_up=_getting_up, handstand=_handstand, cartwheel=_cartwheel, flip=_flip,
)  # fmt: skip
assert tuple(_FUNCS) == MOVEMENTS


def _evaluate(movement, phase, style, rng, *, noise_deg):
    n = phase.shape[0]
    o = _Out(n)
    _FUNCS[movement](o, phase, style)
    a = o.a + style["bias"]
    a[:, _A["lumbar_flex"]] += style["posture"]
    a[:, _A["neck_flex"]] += style["neck"]
    if noise_deg:
        a = a + rng.normal(0.0, noise_deg, a.shape)
        # Per-sample carriage: soft knees, and now and then a forearm held up (carrying,
        # holding a phone or a rail) whatever the movement.
        soft = rng.uniform(0.0, 12.0, n)
        for k, f in (("l_knee_flex", 1.0), ("r_knee_flex", 1.0), ("l_hip_flex", 0.5),
                     ("r_hip_flex", 0.5)):  # fmt: skip
            a[:, _A[k]] += f * soft
        for k in ("l_elbow_flex", "r_elbow_flex"):
            hold = rng.uniform(size=n) < 0.15
            a[hold, _A[k]] += rng.uniform(30.0, 100.0, int(hold.sum()))
    a = np.clip(a, body.ANGLE_LIMITS[:, 0], body.ANGLE_LIMITS[:, 1])
    tilt = (
        body.axis_rotation(0, -o.x["pitch"])
        @ body.axis_rotation(1, o.x["roll"])
        @ body.axis_rotation(2, o.x["spin"])
    )
    return a, tilt, np.clip(o.x["lift"], 0.0, None)


def sample_movement(
    rng: np.random.Generator, movement: str, style: dict[str, np.ndarray], *, noise_deg=3.0
):
    """Poses at random phases of ``movement``, one per row of ``style`` (:func:`sample_styles`).

    Returns:
      angles ``(n, 25)`` degrees within the anatomical limits (half mirrored left/right),
      tilt ``(n, 3, 3)`` body -> upright rotation, lift ``(n,)`` m of the lowest joint.
    """
    if movement not in _FUNCS:
        raise ValueError(f"unknown movement {movement!r}; known: {MOVEMENTS}")
    n = style["amp"].shape[0]
    phase = rng.uniform(0.0, 1.0, n)
    a, tilt, lift = _evaluate(movement, phase, style, rng, noise_deg=noise_deg)
    mirror = rng.uniform(size=n) < 0.5
    a = np.where(mirror[:, None], body.mirror_angles(a), a)
    m = np.diag([-1.0, 1.0, 1.0])
    tilt = np.where(mirror[:, None, None], m @ tilt @ m, tilt)
    return a, tilt, lift


def trajectory(movement: str, num_frames: int, *, seed: int = 0):
    """One subject performing one cycle of ``movement`` in ``num_frames`` frames (no noise).

    Returns angles ``(F, 25)``, tilt ``(F, 3, 3)``, lift ``(F,)`` (see :func:`sample_movement`).
    """
    if movement not in _FUNCS:
        raise ValueError(f"unknown movement {movement!r}; known: {MOVEMENTS}")
    rng = np.random.default_rng(seed)
    style = sample_styles(rng, 1)
    style = {k: np.repeat(v, num_frames, axis=0) for k, v in style.items()}
    phase = np.arange(num_frames) / num_frames
    return _evaluate(movement, phase, style, rng, noise_deg=0.0)
