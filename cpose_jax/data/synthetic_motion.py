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
  hand_to_face (phoning, eating, drinking), turning (walking or running along a curve, step and
  spin turns on the spot);
* sport: running, jumping (crouch, take-off, flight, landing), kicking (front and side),
  punching (guard, alternating straight punches), dancing (sums of sines, per-subject
  rhythm and figures), dance_expressive (phrases of two figures: arabesque, développés,
  lunges, back bends, contractions, spirals, side bends, pliés, leaps), spinning (pirouettes and
  spins on both feet, the whole body turning through 360 deg), turning_kick (roundhouse,
  spinning back and hook kicks), martial_arts (stances with punches and blocks, knee strikes,
  axe kicks), swinging (overhand throw, tennis forehand and serve, bat swing);
* rare (floor and inverted, the "unseen poses" of the paper's cross-scenario test): crawling
  (on hands and knees, on the belly, on hands and feet), lying, rolling (log roll and forward
  roll), getting_up (three ways from the back, two from the front), handstand, cartwheel (with
  two hands, one hand, round-off), flip (tucked backward somersault), walkover (front and back
  walkovers, back handspring).

:data:`FAMILIES` groups them for leave-one-family-out tests; :data:`VARIANTS` names the variants
of the movements that draw one uniformly.

Style (:func:`sample_styles`): per subject, an amplitude factor, gait stride, arm swing, elbow
carriage, posture (trunk and neck flexion), and a per-angle bias; plus per-frame noise. Its key
``rhythm`` holds the variant draws (:func:`sample_variants`: which dance figure, gesture, lying
position, roll), which the world redraws for every pose. Angles are clipped to the anatomical
limits (``synthetic_body.ANGLE_LIMITS``). The root's orientation is a heading (the direction of
travel, turning over a spin or a curve) times the body's own lean, tumble and twist.

The gait curves follow the textbook shape of normal walking (hip flexion +30 deg at heel strike
to -10 deg at toe-off, knee ~15 deg loading response and ~60 deg peak swing flexion, arm swing
about 20 deg opposite to the ipsilateral leg); the other movements are keyframed by hand from
the published descriptions named in their docstrings, and the everyday ones were checked
against the held-out real capture listed in ``docs/MOTION_SOURCES.md``.
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
    "VARIANTS",
    "sample_movement",
    "sample_styles",
    "sample_variants",
    "trajectory",
]

EVERYDAY = (
    "standing", "walking", "sitting", "sit_to_stand", "squat_pickup", "reaching", "gesturing",
    "hand_to_face", "turning",
)  # fmt: skip
SPORT = (
    "running", "jumping", "kicking", "punching", "dancing", "dance_expressive", "spinning",
    "turning_kick", "martial_arts", "swinging",
)  # fmt: skip
RARE = (
    "crawling", "lying", "rolling", "getting_up", "handstand", "cartwheel", "flip", "walkover",
)  # fmt: skip
MOVEMENTS = EVERYDAY + SPORT + RARE
#: Movement families, the units a leave-one-family-out test holds out of training (every
#: movement in exactly one family).
FAMILIES = {
    "everyday": tuple(m for m in EVERYDAY if m not in ("walking", "turning")),
    "locomotion": ("walking", "turning", "running", "jumping"),
    "martial": ("kicking", "punching", "martial_arts"),
    "turns": ("spinning", "turning_kick"),
    "dance": ("dancing", "dance_expressive"),
    "swings": ("swinging",),
    "floor": ("crawling", "lying", "rolling", "getting_up"),
    "acrobatics": ("handstand", "cartwheel", "flip", "walkover"),
}
#: Named variants of the movements that choose one uniformly (style ``rhythm[:, 0]``); the
#: other movements mix their variants continuously or with their own weights.
VARIANTS = {
    "turning": ("walk_curve", "run_curve", "step_turn", "spin_turn"),
    "dance_expressive": (
        "arabesque", "developpe_side", "developpe_front", "lunge_reach", "back_bend",
        "contraction", "spiral", "side_bend", "grand_plie", "leap",
    ),
    "spinning": ("pirouette_passe", "pirouette_arms_up", "two_foot_spin", "arms_out_spin"),
    "turning_kick": ("roundhouse", "spinning_back_kick", "spinning_hook_kick"),
    "martial_arts": ("front_stance_punch", "horse_stance_block", "knee_strike", "axe_kick"),
    "swinging": ("overhand_throw", "tennis_forehand", "bat_swing", "overhead_serve"),
    "crawling": ("hands_knees", "belly", "bear"),
    "getting_up": (
        "back_roll_kneel", "back_sit_squat", "back_side_sit", "front_all_fours",
        "front_push_up_step",
    ),
    "cartwheel": ("two_hands", "one_handed", "round_off"),
    "walkover": ("front_walkover", "back_walkover", "back_handspring"),
}  # fmt: skip

_NA = len(body.ANGLE_NAMES)
_A = {n: i for i, n in enumerate(body.ANGLE_NAMES)}
_TWO_PI = 2.0 * np.pi

# Neutral standing pose (degrees); keyframes list only what differs from it.
_NEUTRAL = dict(
    l_hip_abd=4, r_hip_abd=4, l_knee_flex=4, r_knee_flex=4, l_sho_flex=4, r_sho_flex=4,
    l_sho_abd=9, r_sho_abd=9, l_sho_rot=10, r_sho_rot=10, l_elbow_flex=15, r_elbow_flex=15,
    lumbar_flex=3, thor_flex=3, neck_flex=5,
)  # fmt: skip
# Root: forward lean, sideways roll (to the right +), yaw about the body's long axis (applied
# first), lift off the ground, and heading (turn to the left +, about the vertical, applied
# last, so pitch and roll stay the body's own lean while it turns or travels along a curve).
_EXTRA = ("pitch", "roll", "spin", "lift", "yaw")


def sample_styles(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """``n`` subject styles: scalars ``(n,)`` and a per-angle ``bias`` ``(n, 25)`` degrees.

    ``amp`` (0.7-1.35) scales the excursions of the keyframed movements that use it (how deep a
    crouch or lunge, how high a kick or a développé): people differ there more than in gait."""
    return dict(
        amp=np.clip(rng.normal(1.0, 0.15, n), 0.7, 1.35),
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


_KEY_NAMES = list(body.ANGLE_NAMES) + list(_EXTRA)
_KEY_BASE = np.array([_NEUTRAL.get(nm, 0.0) for nm in _KEY_NAMES])


def _vec(d):
    """A keyframe ``{name: value}`` as a vector over angles and extras (absent: neutral or 0)."""
    return np.array([d.get(nm, b) for nm, b in zip(_KEY_NAMES, _KEY_BASE)])


def _keys(p, keys, *, periodic=False):
    """Smooth (cosine) interpolation of keyframes at phases ``p`` ``(n,)``.

    ``keys``: list of ``(phase, {name: value})``; names are angle names or :data:`_EXTRA`;
    an absent name is neutral (angles) or 0 (extras). Returns ``(angles (n,25), extras)``.
    """
    ph = np.array([k[0] for k in keys], float)
    vals = np.array([_vec(d) for _, d in keys])
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
    _apply_variants(o, p, np.zeros(len(p), int), [keys], periodic=periodic, amp=amp)


def _apply_either(o: _Out, p, first, keys_1, keys_2):
    """Per sample, the keyframes ``keys_1`` where ``first`` ``(n,)`` is True, else ``keys_2``."""
    _apply_variants(o, p, np.where(first, 0, 1), [keys_1, keys_2])


def _apply_variants(o: _Out, p, which, key_lists, *, periodic=False, amp=None):
    """Per sample, the keyframes ``key_lists[which]`` (``which`` ``(n,)`` ints); ``amp`` ``(n,)``
    scales each angle's deviation from neutral (extras are kept)."""
    a, x = np.empty_like(o.a), {k: np.empty(len(p)) for k in _EXTRA}
    for k, keys in enumerate(key_lists):
        m = which == k
        if m.any():
            a[m], xk = _keys(p[m], keys, periodic=periodic)
            for e in _EXTRA:
                x[e][m] = xk[e]
    if amp is not None:
        a = o.a + (a - o.a) * amp[:, None]
    o.a[:] = a
    o.x.update(x)


def _variant(s, movement):
    """Index of the variant (:data:`VARIANTS`) each sample performs, from ``rhythm[:, 0]``."""
    k = len(VARIANTS[movement])
    return np.minimum((s["rhythm"][:, 0] * k).astype(int), k - 1)


def _ramp(p, start, end):
    """0 before ``start``, 1 after ``end``, cosine-eased in between."""
    t = np.clip((p - start) / (end - start), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


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


def _turning(o, p, s):
    """Walking or running along a curve, or turning on the spot (a left turn; the world mirrors
    half the poses). The head leads the turn, then the trunk (head yaw ahead of the body by
    20-30 deg: Hollands, Patla & Vickers 2002, Exp Brain Res 143:221); on a curve the body leans
    in by atan(v^2 / (g r)) (about 5 deg walking at 1.3 m/s on a 3 m radius, 15-20 deg running
    at 4 m/s on a 5-8 m one) and the inside hip rotates externally, the outside one internally.
    On the spot: a step turn in three steps, or a spin turn on the inside foot with the outside
    leg swinging across the body (Hase & Stein 1999, J Neurophysiol 81:2914)."""
    v = _variant(s, "turning")
    r = s["rhythm"]
    amount = 90.0 + 90.0 * r[:, 1]  # heading change per cycle, deg
    for run in (False, True):  # along a curve: the gait cycle, turning and leaning in
        m = v == int(run)
        if m.any():
            sub = _Out(int(m.sum()))
            _gait(sub, p[m], _style_rows(s, m), run=run)
            o.a[m] = sub.a
            for k in _EXTRA:
                o.x[k][m] = sub.x[k]
            o.x["roll"][m] -= (15.0 if run else 5.0) * (0.6 + 0.4 * r[m, 2])
            o.x["yaw"][m] = amount[m] * p[m]
            o.a[m, _A["l_hip_rot"]] -= 8.0
            o.a[m, _A["r_hip_rot"]] += 8.0
    # Step turn: three steps (left, right, left), the heading turning while a foot is up.
    q = (3 * p) % 1.0
    up = np.sin(np.pi * q)
    left = np.floor(3 * p) % 2 == 0
    for sd, other, m, rot in (
        ("l", "r", (v == 2) & left, -20.0),
        ("r", "l", (v == 2) & ~left, 15.0),
    ):
        o.a[m, _A[f"{sd}_hip_flex"]] = 5 + 30 * up[m]
        o.a[m, _A[f"{sd}_knee_flex"]] = 5 + 45 * up[m]
        o.a[m, _A[f"{sd}_hip_rot"]] = rot * up[m]
        o.a[m, _A[f"{other}_knee_flex"]] = 10
        o.x["roll"][m] = 3.0 * up[m] * (-1 if sd == "l" else 1)  # weight over the other foot
    m = v == 2
    o.x["yaw"][m] = amount[m] * (np.floor(3 * p[m]) + _ramp(q[m], 0.1, 0.9)) / 3
    # Spin turn: pivot on the left foot; the right leg swings across the body and lands.
    m = v == 3
    swing = np.sin(np.pi * p[m])
    o.a[m, _A["r_hip_flex"]] = 10 + 30 * swing
    o.a[m, _A["r_hip_abd"]] = 4 - 20 * swing
    o.a[m, _A["r_knee_flex"]] = 10 + 40 * swing
    o.a[m, _A["l_hip_rot"]] = -25 * swing
    o.a[m, _A["l_knee_flex"]] = 15
    o.x["yaw"][m] = amount[m] * _ramp(p[m], 0.1, 0.8)
    spot = v >= 2
    arms = np.sin(np.pi * p[spot])
    o.a[spot, _A["l_sho_abd"]] = 12 + 15 * arms
    o.a[spot, _A["r_sho_abd"]] = 12 + 15 * arms
    lead = _ramp(p, 0.0, 0.25) * (1 - _ramp(p, 0.8, 1.0))
    o.add("neck_twist", 30 * lead)
    o.add("lumbar_twist", 10 * lead)


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
    # Side kick: the trunk leans AWAY from the kicking (left) leg (a positive roll tips the head
    # to the body's right) and the support hip abducts against the lean, so the support leg
    # stays near vertical while the kicking leg reaches about horizontal.
    side_ch = dict(guard, l_hip_flex=70, l_hip_abd=40, l_knee_flex=110, roll=20, r_hip_abd=18,
                   l_hip_rot=-30)  # fmt: skip
    side = dict(guard, l_hip_flex=30, l_hip_abd=50, l_knee_flex=5, roll=40, r_hip_abd=36,
                l_hip_rot=-35)  # fmt: skip
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


# ------------------------------------------------------------------ sport: dance and turns

# Figures of expressive dance, named as in ballet and modern dance; the left leg gestures (the
# world mirrors half the poses). Leg heights and turn-out within the hip's range: extension
# 30 deg, abduction 50, external rotation 40 (ANGLE_LIMITS); a dancer raises the leg further by
# tilting the pelvis (root pitch and roll), as dancers do above about 90 deg of elevation.
_FIGURES = dict(
    # arabesque: trunk forward, back arched, the gesture leg behind; arms forward and side
    arabesque=dict(pitch=45, r_hip_flex=45, r_hip_rot=-20, l_hip_flex=-30, l_hip_rot=-30,
                   l_hip_abd=8, l_knee_flex=0, r_knee_flex=0, lumbar_flex=-25, thor_flex=-10,
                   neck_flex=-15, r_sho_flex=100, r_elbow_flex=10, l_sho_abd=95, l_sho_flex=10,
                   l_elbow_flex=10),
    # développé à la seconde: the leg unfolded to the side, pelvis and trunk tilted away
    developpe_side=dict(l_hip_flex=35, l_hip_abd=50, l_hip_rot=-35, l_knee_flex=0, roll=30,
                        r_hip_abd=30, r_hip_rot=-20, lumbar_side=-15, l_sho_abd=95,
                        r_sho_abd=95, l_elbow_flex=20, r_elbow_flex=20, r_knee_flex=0),
    # développé devant: the leg unfolded to the front, trunk upright, arms in fifth
    developpe_front=dict(l_hip_flex=115, l_hip_rot=-25, l_knee_flex=0, r_knee_flex=0, pitch=-15,
                         r_hip_flex=-15, lumbar_flex=10, l_sho_flex=165, r_sho_flex=165,
                         l_sho_abd=20, r_sho_abd=20, l_elbow_flex=30, r_elbow_flex=30),
    # deep lunge, reaching forward and up with a twist
    lunge_reach=dict(l_hip_flex=100, l_knee_flex=110, r_hip_flex=-25, r_knee_flex=10, pitch=30,
                     lumbar_flex=-10, lumbar_twist=20, thor_twist=15, l_sho_flex=150,
                     r_sho_flex=120, r_sho_abd=40, l_elbow_flex=10, r_elbow_flex=15,
                     neck_flex=-20),
    # back bend (cambré): pelvis tilted back, spine and neck extended, arms overhead
    back_bend=dict(pitch=-20, l_hip_flex=-20, r_hip_flex=-20, l_knee_flex=25, r_knee_flex=25,
                   lumbar_flex=-30, thor_flex=-15, neck_flex=-45, l_sho_flex=175, r_sho_flex=175,
                   l_sho_abd=25, r_sho_abd=25, l_elbow_flex=15, r_elbow_flex=15),
    # contraction (Graham technique): pelvis tucked, spine rounded, arms rounded forward
    contraction=dict(pitch=-10, l_hip_flex=35, r_hip_flex=35, l_knee_flex=45, r_knee_flex=45,
                     lumbar_flex=45, thor_flex=35, neck_flex=35, l_sho_flex=80, r_sho_flex=80,
                     l_sho_abd=30, r_sho_abd=30, l_sho_rot=30, r_sho_rot=30, l_elbow_flex=60,
                     r_elbow_flex=60),
    # spiral: second-position plié with the spine twisted, one arm overhead, one to the side
    spiral=dict(l_hip_flex=35, r_hip_flex=35, l_hip_abd=35, r_hip_abd=35, l_hip_rot=-35,
                r_hip_rot=-35, l_knee_flex=60, r_knee_flex=60, lumbar_twist=30, thor_twist=30,
                neck_twist=35, lumbar_side=10, l_sho_flex=170, l_sho_abd=20, r_sho_abd=120,
                r_sho_flex=20, l_elbow_flex=20, r_elbow_flex=20),
    # side bend (port de bras): arm arched over the head, the other across the body
    side_bend=dict(lumbar_side=-30, thor_side=-20, neck_side=-20, l_sho_abd=170,
                   l_elbow_flex=30, r_sho_flex=60, r_sho_abd=-10, r_elbow_flex=90,
                   l_hip_abd=15, r_hip_abd=15, l_hip_rot=-20, r_hip_rot=-20, r_knee_flex=20),
    # grand plié in second: knees deep and turned out, arms in second
    grand_plie=dict(l_hip_flex=75, r_hip_flex=75, l_hip_abd=45, r_hip_abd=45, l_hip_rot=-40,
                    r_hip_rot=-40, l_knee_flex=120, r_knee_flex=120, pitch=10, l_sho_abd=90,
                    r_sho_abd=90, l_elbow_flex=25, r_elbow_flex=25),
    # grand jeté: a split leap, front leg forward, back leg behind, arms opposed
    leap=dict(l_hip_flex=110, r_hip_flex=-30, l_knee_flex=0, r_knee_flex=10, pitch=15,
              lumbar_flex=-15, lift=0.3, l_sho_abd=90, r_sho_flex=120, r_elbow_flex=10,
              neck_flex=-15),
)  # fmt: skip
_FIGURE_VECS = np.array([_vec(_FIGURES[k]) for k in VARIANTS["dance_expressive"]])


def _dance_expressive(o, p, s):
    """A phrase of two figures of expressive dance (:data:`_FIGURES`: arabesque, développés,
    lunges, back bends, contractions, spirals, side bends, pliés, leaps), held in turn with
    transitions between them, scaled by the dancer's amplitude, arms moving with the breath
    of the phrase."""
    r = s["rhythm"]
    nf = len(_FIGURE_VECS)
    a_idx = _variant(s, "dance_expressive")
    b_idx = (a_idx + 1 + (r[:, 1] * (nf - 1)).astype(int)) % nf  # another figure
    t = _ramp(np.interp(p, [0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.0, 1.0, 1.0, 0.0]), 0.0, 1.0)
    v = _FIGURE_VECS[a_idx] * (1 - t)[:, None] + _FIGURE_VECS[b_idx] * t[:, None]
    base = o.a.copy()
    o.a[:] = base + (v[:, :_NA] - base) * s["amp"][:, None]
    for j, k in enumerate(_EXTRA):
        o.x[k] = v[:, _NA + j]
    w = _TWO_PI * p
    for sd, ph in (("l", 6 * r[:, 2]), ("r", 6 * r[:, 3])):
        o.add(f"{sd}_sho_flex", 20 * np.sin(2 * w + ph))
        o.add(f"{sd}_sho_abd", 15 * np.sin(2 * w + ph + 1.5))
    o.x["yaw"] = 90.0 * (r[:, 4] - 0.5) * np.sin(np.pi * t)


def _spinning(o, p, s):
    """Whole-body spin turns, the heading running once (or twice) through 360 deg over the
    cycle (counter-clockwise; the world mirrors half). Pirouette: preparation in plié, relevé
    on the straight support leg with the gesture foot at the support knee (passé: thigh turned
    out to the side, knee flexed about 130 deg), arms rounded in front (first position) or
    overhead (fifth), the head "spotting" (lagging, then leading the body), landing in plié.
    Spins on both feet: arms open, then drawn in to the chest (a smaller moment of inertia
    turns faster), or held out wide while stepping round."""
    v = _variant(s, "spinning")
    r = s["rhythm"]
    prep = dict(l_hip_flex=30, l_knee_flex=40, r_hip_flex=-15, r_knee_flex=5, l_hip_rot=-20,
                r_hip_rot=-25, l_sho_flex=60, l_sho_abd=40, l_elbow_flex=45, r_sho_abd=90,
                r_elbow_flex=20, l_sho_rot=20)  # fmt: skip
    passe = dict(l_hip_flex=55, l_hip_abd=45, l_hip_rot=-40, l_knee_flex=130, r_knee_flex=0,
                 r_hip_rot=-15, lumbar_flex=0, thor_flex=-3)  # fmt: skip
    first = dict(passe, l_sho_flex=55, r_sho_flex=55, l_sho_abd=35, r_sho_abd=35, l_sho_rot=25,
                 r_sho_rot=25, l_elbow_flex=55, r_elbow_flex=55)  # fmt: skip
    fifth = dict(passe, l_sho_flex=160, r_sho_flex=160, l_sho_abd=25, r_sho_abd=25,
                 l_elbow_flex=35, r_elbow_flex=35)  # fmt: skip
    land = dict(l_hip_flex=25, r_hip_flex=25, l_knee_flex=35, r_knee_flex=35, l_hip_rot=-25,
                r_hip_rot=-25, l_sho_abd=90, r_sho_abd=90, l_elbow_flex=20,
                r_elbow_flex=20)  # fmt: skip
    open_ = dict(l_knee_flex=12, r_knee_flex=12, l_hip_abd=10, r_hip_abd=10, l_sho_abd=85,
                 r_sho_abd=85, l_elbow_flex=10, r_elbow_flex=10, neck_flex=-5)  # fmt: skip
    drawn = dict(open_, l_sho_flex=70, r_sho_flex=70, l_sho_abd=15, r_sho_abd=15, l_sho_rot=40,
                 r_sho_rot=40, l_elbow_flex=130, r_elbow_flex=130, l_hip_abd=2, r_hip_abd=2,
                 l_knee_flex=5, r_knee_flex=5)  # fmt: skip
    wide = dict(open_, l_sho_abd=95, r_sho_abd=95, pitch=-6, neck_flex=-20, lumbar_flex=-5)
    pir = lambda arms: [(0.0, {}), (0.12, prep), (0.25, arms), (0.75, arms), (0.88, land),
                        (1.0, {})]  # fmt: skip
    keys = [pir(first), pir(fifth), [(0.0, open_), (0.4, drawn), (0.6, drawn), (1.0, open_)],
            [(0.0, wide), (1.0, wide)]]  # fmt: skip
    _apply_variants(o, p, v, keys, amp=np.where(v < 2, 1.0, s["amp"]))
    turns = np.where((v < 2) & (r[:, 1] < 0.3), 2.0, 1.0)
    heading = np.where(v < 2, _ramp(p, 0.15, 0.85), p)
    o.x["yaw"] = 360.0 * turns * heading
    o.set("neck_twist", -50 * np.sin(np.deg2rad(o.x["yaw"])))  # spotting
    step = np.sin(2 * _TWO_PI * p)  # stepping round (arms-out spin)
    m = v == 3
    o.a[m, _A["l_knee_flex"]] += 25 * np.clip(step[m], 0, None)
    o.a[m, _A["r_knee_flex"]] += 25 * np.clip(-step[m], 0, None)
    o.a[m, _A["l_hip_flex"]] += 20 * np.clip(step[m], 0, None)
    o.a[m, _A["r_hip_flex"]] += 20 * np.clip(-step[m], 0, None)


def _turning_kick(o, p, s):
    """Kicks with a whole-body turn (left leg kicking). Roundhouse, in the phases described by
    Gavagan & Sayers (2017, PLoS ONE 12:e0182645): the support foot pivots, the kicking hip
    flexes, abducts and rotates internally and the shin swings horizontally out of the chamber,
    the trunk leaning away; here the hip abducts to its limit (50 deg) and the pelvis tilts by
    35 deg, which lifts the foot to hip height.
    Spinning back kick: a half turn with the back to the target, the leg driven straight back
    with the trunk pitched forward so that it reaches horizontal. Spinning hook kick: a turn
    with the straight leg swung high to the side, the knee flexing at the end (the hook)."""
    guard = dict(l_sho_flex=45, r_sho_flex=45, l_elbow_flex=115, r_elbow_flex=115, l_sho_abd=20,
                 r_sho_abd=20, l_knee_flex=20, r_knee_flex=20, l_hip_flex=15, r_hip_flex=-5,
                 pitch=5)  # fmt: skip
    g = {k: guard[k] for k in guard if "sho" in k or "elbow" in k}
    rh_ch = dict(g, l_hip_flex=90, l_hip_abd=30, l_knee_flex=125, l_hip_rot=25, roll=15,
                 r_hip_abd=10, r_knee_flex=15, lumbar_side=-10, yaw=-45)  # fmt: skip
    rh_hit = dict(l_hip_flex=60, l_hip_abd=50, l_knee_flex=10, l_hip_rot=35, roll=35, r_hip_abd=30,
                  r_knee_flex=10, lumbar_side=-15, yaw=-90, l_sho_flex=60, l_elbow_flex=110,
                  l_sho_abd=20, r_sho_flex=-20, r_sho_abd=35, r_elbow_flex=30, neck_twist=30,
                  neck_side=15)  # fmt: skip
    k_rh = [(0.0, guard), (0.22, rh_ch), (0.4, rh_hit), (0.55, dict(rh_ch, yaw=-70)),
            (0.8, dict(guard, yaw=-20)), (1.0, guard)]  # fmt: skip
    bk_turn = dict(g, l_hip_flex=55, l_knee_flex=115, r_knee_flex=20, pitch=20, r_hip_flex=20,
                   neck_twist=50, yaw=150)  # fmt: skip
    bk_hit = dict(g, l_hip_flex=-30, l_knee_flex=5, l_hip_rot=10, pitch=60, r_hip_flex=60,
                  r_knee_flex=15, lumbar_flex=10, neck_twist=55, neck_flex=-25, yaw=180,
                  l_sho_flex=70, r_sho_flex=30, l_elbow_flex=90)  # fmt: skip
    k_bk = [(0.0, guard), (0.2, bk_turn), (0.4, bk_hit), (0.55, dict(bk_turn, yaw=200)),
            (0.8, dict(guard, yaw=330)), (1.0, dict(guard, yaw=360))]  # fmt: skip
    hk_lift = dict(g, l_hip_flex=40, l_hip_abd=30, l_knee_flex=60, pitch=20, r_hip_flex=20,
                   roll=20, neck_twist=45, yaw=140)  # fmt: skip
    hk_ext = dict(g, l_hip_flex=70, l_hip_abd=48, l_hip_rot=-20, l_knee_flex=5, roll=35,
                  r_hip_abd=25, r_knee_flex=10, pitch=15, r_hip_flex=15, lumbar_side=-15,
                  neck_twist=35, yaw=220, r_sho_abd=50, r_elbow_flex=40)  # fmt: skip
    hk_hook = dict(hk_ext, l_knee_flex=100, l_hip_abd=40, yaw=280)
    k_hk = [(0.0, guard), (0.2, hk_lift), (0.38, hk_ext), (0.5, hk_hook),
            (0.75, dict(guard, yaw=340)), (1.0, dict(guard, yaw=360))]  # fmt: skip
    _apply_variants(o, p, _variant(s, "turning_kick"), [k_rh, k_bk, k_hk], amp=s["amp"])


# ------------------------------------------------------------------ sport: martial arts, swings


def _martial_arts(o, p, s):
    """Karate and kick-boxing sequences (left side leading). Front stance (zenkutsu-dachi: front
    knee over the foot, about 80 deg, rear leg straight) with a lunge punch, the other fist
    pulled back to the hip, then a rising block overhead; horse stance (kiba-dachi: thighs
    turned out and abducted, knees about 90 deg) with a downward block and punches; knee strike
    from the clinch (hip flexion 120 deg, hips driven forward, trunk leaning back); axe kick
    (the straight leg raised high, the pelvis tilting back, then chopped down)."""
    ready = dict(l_hip_abd=10, r_hip_abd=10, l_knee_flex=10, r_knee_flex=10, l_sho_flex=40,
                 r_sho_flex=40, l_elbow_flex=100, r_elbow_flex=100, l_sho_abd=15,
                 r_sho_abd=15)  # fmt: skip
    front = dict(l_hip_flex=60, l_knee_flex=80, r_hip_flex=-25, r_knee_flex=5, l_hip_abd=8,
                 r_hip_abd=12, r_hip_rot=-15, pitch=5)  # fmt: skip
    lunge = dict(front, r_sho_flex=90, r_sho_abd=5, r_elbow_flex=0, l_sho_flex=-35,
                 l_sho_abd=10, l_elbow_flex=120, lumbar_twist=-15, spin=-10)  # fmt: skip
    rise = dict(front, l_sho_flex=140, l_sho_abd=35, l_sho_rot=40, l_elbow_flex=95,
                r_sho_flex=-35, r_elbow_flex=120, lumbar_twist=10)  # fmt: skip
    k_front = [(0.0, ready), (0.3, lunge), (0.45, lunge), (0.65, rise), (0.8, rise),
               (1.0, ready)]  # fmt: skip
    horse = dict(l_hip_flex=55, r_hip_flex=55, l_hip_abd=40, r_hip_abd=40, l_hip_rot=-30,
                 r_hip_rot=-30, l_knee_flex=90, r_knee_flex=90, pitch=8)  # fmt: skip
    down_blk = dict(horse, l_sho_flex=30, l_sho_abd=45, l_elbow_flex=5, r_sho_flex=-35,
                    r_elbow_flex=120, lumbar_twist=20, neck_twist=40)  # fmt: skip
    punch_r = dict(horse, r_sho_flex=90, r_elbow_flex=0, l_sho_flex=-35, l_elbow_flex=120)
    punch_l = dict(horse, l_sho_flex=90, l_elbow_flex=0, r_sho_flex=-35, r_elbow_flex=120)
    k_horse = [(0.0, ready), (0.2, down_blk), (0.4, punch_r), (0.6, punch_l), (0.8, punch_r),
               (1.0, ready)]  # fmt: skip
    clinch = dict(l_sho_flex=110, r_sho_flex=110, l_sho_abd=25, r_sho_abd=25, l_elbow_flex=110,
                  r_elbow_flex=110, l_knee_flex=15, r_knee_flex=15, neck_flex=20)  # fmt: skip
    knee = dict(clinch, l_hip_flex=120, l_knee_flex=140, r_knee_flex=5, pitch=-12,
                r_hip_flex=-12, lumbar_flex=-10, l_sho_flex=80, r_sho_flex=80,
                l_elbow_flex=120, r_elbow_flex=120)  # fmt: skip
    k_knee = [(0.0, ready), (0.2, clinch), (0.4, knee), (0.55, clinch), (0.75, knee),
              (0.9, clinch), (1.0, ready)]  # fmt: skip
    axe_up = dict(ready, l_hip_flex=125, l_hip_abd=15, l_knee_flex=5, pitch=-15, r_hip_flex=-15,
                  r_knee_flex=5, lumbar_flex=15, neck_flex=10)  # fmt: skip
    axe_down = dict(ready, l_hip_flex=50, l_knee_flex=5, pitch=10, lumbar_flex=15)
    k_axe = [(0.0, ready), (0.15, dict(ready, l_hip_flex=60, l_hip_abd=30, l_knee_flex=10)),
             (0.35, axe_up), (0.5, axe_down), (0.65, dict(front, **{k: ready[k] for k in ready
                                                               if "sho" in k or "elbow" in k})),
             (1.0, ready)]  # fmt: skip
    _apply_variants(o, p, _variant(s, "martial_arts"), [k_front, k_horse, k_knee, k_axe],
                    amp=s["amp"])  # fmt: skip


def _swinging(o, p, s):
    """Throwing and striking with an implement (right-handed; the world mirrors half). Overhand
    throw after the phases of baseball pitching (Fleisig et al. 1996, Sports Med 21:421): leg
    lift, stride with the arm cocked (shoulder abducted about 90 deg, externally rotated to its
    limit, elbow 90 deg) and the trunk turned away, release with the trunk flexed and turned
    through, follow-through across the body. Tennis forehand and serve, two-handed bat swing:
    backswing with trunk and pelvis turned away, swing through, follow-through over the other
    shoulder."""
    st = dict(l_knee_flex=15, r_knee_flex=15, l_hip_abd=12, r_hip_abd=12)
    th_set = dict(st, l_sho_flex=35, r_sho_flex=35, l_elbow_flex=110, r_elbow_flex=110,
                  l_sho_abd=20, r_sho_abd=20)  # fmt: skip
    th_lift = dict(th_set, l_hip_flex=85, l_knee_flex=90, r_knee_flex=15, lumbar_twist=-15,
                   spin=-20)  # fmt: skip
    th_cock = dict(l_hip_flex=50, l_knee_flex=45, l_hip_abd=15, r_hip_flex=-15, r_knee_flex=30,
                   r_hip_abd=25, r_sho_abd=90, r_sho_rot=-80, r_elbow_flex=90, r_sho_flex=-10,
                   l_sho_abd=80, l_sho_flex=40, l_elbow_flex=30, lumbar_twist=-25,
                   thor_twist=-15, lumbar_side=10, spin=-25)  # fmt: skip
    th_rel = dict(l_hip_flex=70, l_knee_flex=40, r_hip_flex=-10, r_knee_flex=35, r_sho_abd=90,
                  r_sho_flex=60, r_sho_rot=20, r_elbow_flex=25, l_sho_flex=20, l_sho_abd=30,
                  l_elbow_flex=100, lumbar_flex=25, pitch=20, lumbar_twist=25, thor_twist=15,
                  lumbar_side=-10, spin=20)  # fmt: skip
    th_fol = dict(l_hip_flex=75, l_knee_flex=35, r_hip_flex=30, r_knee_flex=80, r_sho_flex=60,
                  r_sho_abd=-10, r_sho_rot=60, r_elbow_flex=30, l_sho_flex=-20,
                  l_elbow_flex=90, lumbar_flex=35, pitch=30, lumbar_twist=25, spin=30)  # fmt: skip
    k_throw = [(0.0, th_set), (0.2, th_lift), (0.42, th_cock), (0.52, th_rel), (0.7, th_fol),
               (1.0, th_set)]  # fmt: skip
    ready = dict(l_hip_flex=30, r_hip_flex=30, l_knee_flex=35, r_knee_flex=35, l_hip_abd=15,
                 r_hip_abd=15, pitch=15, l_sho_flex=40, r_sho_flex=40, l_elbow_flex=90,
                 r_elbow_flex=80)  # fmt: skip
    fh_back = dict(ready, lumbar_twist=-30, thor_twist=-20, spin=-30, r_sho_abd=60,
                   r_sho_flex=-30, r_elbow_flex=40, l_sho_flex=80, l_sho_abd=5,
                   l_elbow_flex=20, neck_twist=35)  # fmt: skip
    fh_hit = dict(ready, r_sho_flex=40, r_sho_abd=40, r_elbow_flex=20, l_sho_flex=40,
                  l_sho_abd=30, neck_twist=10)  # fmt: skip
    fh_fol = dict(ready, lumbar_twist=30, thor_twist=20, spin=30, r_sho_flex=120, r_sho_abd=5,
                  r_sho_rot=60, r_elbow_flex=100, l_sho_flex=20, l_sho_abd=40,
                  l_elbow_flex=80)  # fmt: skip
    k_fh = [(0.0, ready), (0.3, fh_back), (0.5, fh_hit), (0.7, fh_fol), (1.0, ready)]
    bat = dict(l_hip_flex=30, r_hip_flex=30, l_knee_flex=25, r_knee_flex=25, l_hip_abd=20,
               r_hip_abd=20, pitch=20)  # fmt: skip
    bt_load = dict(bat, r_sho_flex=30, r_sho_abd=35, r_elbow_flex=110, l_sho_flex=70,
                   l_sho_abd=-10, l_sho_rot=40, l_elbow_flex=60, lumbar_twist=-20, spin=-20,
                   neck_twist=50)  # fmt: skip
    bt_hit = dict(bat, l_sho_flex=70, l_sho_abd=-10, l_elbow_flex=5, r_sho_flex=70,
                  r_sho_abd=-10, r_sho_rot=45, r_elbow_flex=40, lumbar_twist=15, spin=25,
                  neck_twist=30, l_knee_flex=10, r_knee_flex=40)  # fmt: skip
    bt_fol = dict(bat, l_sho_flex=90, l_sho_abd=60, l_elbow_flex=110, r_sho_flex=90,
                  r_sho_abd=-10, r_sho_rot=50, r_elbow_flex=80, lumbar_twist=30, thor_twist=20,
                  spin=45, l_knee_flex=10, r_knee_flex=45, r_hip_rot=30)  # fmt: skip
    k_bat = [(0.0, bat), (0.3, bt_load), (0.5, bt_hit), (0.68, bt_fol), (1.0, bat)]
    sv_toss = dict(st, l_sho_flex=170, l_elbow_flex=5, r_sho_abd=60, r_sho_flex=-20,
                   r_elbow_flex=30, lumbar_twist=-15)  # fmt: skip
    sv_troph = dict(l_hip_flex=25, r_hip_flex=25, l_knee_flex=45, r_knee_flex=45, pitch=-10,
                    lumbar_flex=-25, thor_flex=-10, neck_flex=-35, l_sho_flex=165,
                    r_sho_abd=100, r_sho_rot=-70, r_elbow_flex=100, lumbar_twist=-20,
                    lumbar_side=15)  # fmt: skip
    sv_hit = dict(r_sho_flex=170, r_sho_abd=10, r_elbow_flex=5, l_sho_flex=60, l_elbow_flex=90,
                  lumbar_flex=10, neck_flex=-30, lift=0.12, r_hip_flex=-10)  # fmt: skip
    sv_fol = dict(r_sho_flex=40, r_sho_abd=-10, r_sho_rot=50, r_elbow_flex=20, l_sho_flex=30,
                  l_elbow_flex=90, lumbar_flex=35, pitch=20, l_hip_flex=40, l_knee_flex=30,
                  r_hip_flex=-15, r_knee_flex=60, lumbar_twist=20)  # fmt: skip
    k_sv = [(0.0, st), (0.2, sv_toss), (0.4, sv_troph), (0.55, sv_hit), (0.75, sv_fol),
            (1.0, st)]  # fmt: skip
    _apply_variants(o, p, _variant(s, "swinging"), [k_throw, k_fh, k_bat, k_sv])


# ------------------------------------------------------------------ rare: floor and inverted


def _crawling(o, p, s):
    """Crawling with the trunk near horizontal. On hands and knees (thighs and arms near
    vertical) and the bear crawl on hands and feet (knees off the floor, hips higher than the
    shoulders), limbs in the diagonal pattern: each arm moves with the opposite leg. The belly or
    "army" crawl: prone, pulling on the forearms, the leg of the reaching arm's side drawn up
    and out along the floor ("frog"), the other leg stretched, the pelvis rolling and the spine
    bending towards the drawn-up leg."""
    v = _variant(s, "crawling")
    w = _TWO_PI * p
    bear, belly = v == 2, v == 1
    for side, off in (("l", 0.0), ("r", np.pi)):
        sw = np.sin(w + off)  # +1: this leg forward, the opposite arm forward
        knee = np.sin(w + off + 0.5)
        o.set(f"{side}_hip_flex", np.where(bear, 115 + 12 * sw, 90 + 18 * sw))
        o.set(f"{side}_knee_flex", np.where(bear, 80 + 15 * knee, 100 + 15 * knee))
        o.set(f"{side}_sho_flex", np.where(bear, 95 - 12 * sw, 90 - 18 * sw))
        o.set(f"{side}_elbow_flex", np.where(bear, 8.0, 10 + 10 * np.clip(sw, 0, None)))
        o.set(f"{side}_hip_abd", 10)
        u = (0.5 + 0.5 * sw)[belly]  # belly crawl: this side's arm reaching, leg drawn up
        o.a[belly, _A[f"{side}_hip_flex"]] = 15 * u
        o.a[belly, _A[f"{side}_hip_abd"]] = 5 + 40 * u
        o.a[belly, _A[f"{side}_hip_rot"]] = -40 * u
        o.a[belly, _A[f"{side}_knee_flex"]] = 10 + 30 * u
        o.a[belly, _A[f"{side}_sho_flex"]] = 110 + 45 * u
        o.a[belly, _A[f"{side}_sho_abd"]] = 70 - 50 * u
        o.a[belly, _A[f"{side}_elbow_flex"]] = 45 - 20 * u
    o.x["pitch"] = np.select([bear, belly], [95.0, 85.0], 80.0)
    o.x["roll"] = np.where(belly, 8 * np.sin(w), 0.0)
    o.set("lumbar_side", np.where(belly, 12 * np.sin(w), 0.0))
    o.set("neck_flex", np.select([bear, belly], [-30.0, -45.0], -40.0))
    o.set("lumbar_flex", np.where(bear, 10.0, 0.0))
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
    """Rising from the floor to standing, after the strategies VanSant described for rising
    from supine (1988, Phys Ther 68:185; upper-limb, axial and lower-limb components, each
    symmetrical or with partial or full rotation). From the back: sit up, turn part way to one
    side, kneel, half-kneel, rise; or the symmetrical sit-up and squat (VanSant's commonest adult
    pattern, the hands pushing behind); or roll to the side into a side-sit on one hand, then
    kneel and rise. From the front: push up to all fours, kneel, rise; or push up to a plank,
    step one foot through between the hands into a lunge and rise."""
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
    k_roll = [(0.0, back), (0.25, sit), (0.45, turn), (0.65, kneel), (0.82, rise), (1.0, {})]
    long_sit = dict(pitch=-35, l_hip_flex=70, r_hip_flex=70, l_knee_flex=60, r_knee_flex=60,
                    lumbar_flex=25, l_sho_flex=-40, r_sho_flex=-40, l_sho_abd=20, r_sho_abd=20,
                    l_elbow_flex=5, r_elbow_flex=5)  # fmt: skip
    squat = dict(pitch=40, l_hip_flex=125, r_hip_flex=125, l_knee_flex=145, r_knee_flex=145,
                 l_hip_abd=20, r_hip_abd=20, lumbar_flex=25, l_sho_flex=60, r_sho_flex=60,
                 l_elbow_flex=20, r_elbow_flex=20, neck_flex=-15)  # fmt: skip
    half_up = dict(pitch=30, l_hip_flex=70, r_hip_flex=70, l_knee_flex=75, r_knee_flex=75,
                   lumbar_flex=20, l_sho_flex=45, r_sho_flex=45)  # fmt: skip
    k_squat = [(0.0, back), (0.25, long_sit), (0.5, squat), (0.75, half_up), (1.0, {})]
    on_side = dict(pitch=-90, spin=-70, l_hip_flex=40, r_hip_flex=50, l_knee_flex=60,
                   r_knee_flex=70, r_sho_flex=90, r_elbow_flex=100, l_sho_flex=30)  # fmt: skip
    # side-sit on one hip, knees bent and fallen to the side of the propping hand
    side_sit = dict(pitch=-5, l_hip_flex=110, r_hip_flex=110, l_hip_rot=-40, r_hip_rot=45,
                    l_knee_flex=100, r_knee_flex=130, lumbar_side=-15, r_sho_abd=35,
                    r_sho_flex=0, r_elbow_flex=5, l_sho_flex=40, l_elbow_flex=60)  # fmt: skip
    tall_kneel = dict(l_knee_flex=90, r_knee_flex=90, l_hip_flex=5, r_hip_flex=5, pitch=5)
    k_side = [(0.0, back), (0.2, on_side), (0.4, side_sit), (0.6, tall_kneel), (0.78, kneel),
              (0.9, rise), (1.0, {})]  # fmt: skip
    k_fours = [(0.0, front), (0.2, push), (0.4, hands_knees), (0.6, kneel), (0.8, rise),
               (1.0, {})]  # fmt: skip
    plank = dict(pitch=75, l_sho_flex=80, r_sho_flex=80, l_elbow_flex=5, r_elbow_flex=5,
                 l_knee_flex=0, r_knee_flex=0)  # fmt: skip
    pike = dict(pitch=110, l_hip_flex=95, r_hip_flex=95, l_knee_flex=25, r_knee_flex=25,
                l_sho_flex=70, r_sho_flex=70, l_elbow_flex=5, r_elbow_flex=5)  # fmt: skip
    step = dict(pitch=85, l_hip_flex=125, l_knee_flex=135, r_hip_flex=15, r_knee_flex=15,
                l_sho_flex=80, r_sho_flex=80, l_elbow_flex=10, r_elbow_flex=10,
                neck_flex=-20)  # fmt: skip
    lunge_up = dict(pitch=35, l_hip_flex=80, l_knee_flex=85, r_hip_flex=-20, r_knee_flex=20,
                    lumbar_flex=15, l_sho_flex=20, r_sho_flex=20)  # fmt: skip
    k_step = [(0.0, front), (0.18, plank), (0.36, pike), (0.55, step), (0.78, lunge_up),
              (1.0, {})]  # fmt: skip
    keys = [k_roll, k_squat, k_side, k_fours, k_step]
    _apply_variants(o, p, _variant(s, "getting_up"), keys)


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
    """Cartwheel: a wheel about the forward axis, arms overhead and legs apart from the
    lean-in to the landing, both hands down or only the leading one (the other held out). Round
    off: a cartwheel with a quarter turn onto the hands and another one onto the feet, the legs
    joined over the top and snapped down, landing on both feet facing the way it came."""
    v = _variant(s, "cartwheel")
    o.x["roll"] = 360.0 * p  # wheel about the forward axis
    # Arms up and legs apart from the lean-in to the landing, closing only when upright.
    wide = np.sqrt(np.sin(np.pi * p))
    o.both("sho_abd", 20 + 150 * wide)
    o.both("sho_flex", 10)
    o.both("elbow_flex", 5)
    o.both("hip_abd", 5 + 45 * wide)
    o.both("knee_flex", 5 + 10 * (1 - wide))
    o.x["lift"] = 0.05 * wide
    one = v == 1  # the trailing (right) arm held out to the side, elbow soft
    o.a[one, _A["r_sho_abd"]] = 20 + 80 * wide[one]
    o.a[one, _A["r_elbow_flex"]] = 30
    rd = v == 2
    if rd.any():
        arms = dict(l_sho_flex=175, r_sho_flex=175, l_sho_abd=10, r_sho_abd=10, l_elbow_flex=5,
                    r_elbow_flex=5)  # fmt: skip
        hurdle = dict(arms, l_hip_flex=60, l_knee_flex=50, r_hip_flex=-20, r_knee_flex=10,
                      pitch=20)  # fmt: skip
        reach = dict(arms, l_hip_flex=100, l_knee_flex=15, r_hip_flex=-30, r_knee_flex=5,
                     pitch=100, spin=30)  # fmt: skip
        top = dict(arms, l_hip_abd=25, r_hip_abd=25, l_knee_flex=5, r_knee_flex=5, pitch=180,
                   spin=90, lumbar_flex=-10, neck_flex=-30)  # fmt: skip
        snap = dict(arms, l_hip_flex=35, r_hip_flex=35, l_hip_abd=2, r_hip_abd=2,
                    l_knee_flex=10, r_knee_flex=10, lumbar_flex=15, pitch=255,
                    spin=165)  # fmt: skip
        land = dict(l_sho_flex=150, r_sho_flex=150, l_hip_flex=65, r_hip_flex=65,
                    l_knee_flex=75, r_knee_flex=75, lumbar_flex=15, pitch=330, spin=180,
                    l_elbow_flex=10, r_elbow_flex=10)  # fmt: skip
        keys = [(0.0, {}), (0.12, dict(arms, pitch=0)), (0.25, hurdle), (0.4, reach),
                (0.55, top), (0.7, snap), (0.82, land), (0.92, dict(arms, pitch=360, spin=180)),
                (1.0, dict(pitch=360, spin=180))]  # fmt: skip
        a, x = _keys(p[rd], keys)
        o.a[rd] = a
        for k in _EXTRA:
            o.x[k][rd] = x[k]


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


def _walkover(o, p, s):
    """Walkovers and the back handspring: rotations through the handstand with the spine
    arched. Front walkover: lunge, hands down, the legs split over the top, the rear leg
    landing first in a bridge, standing up with the other leg following. Back walkover: arch
    back into a bridge with one leg raised, kick over through a split handstand, land on one
    foot. Back handspring: sit back, jump backwards arched onto the hands, snap the legs down
    (the hips flexing), land on both feet."""
    up = dict(l_sho_flex=175, r_sho_flex=175, l_sho_abd=10, r_sho_abd=10, l_elbow_flex=5,
              r_elbow_flex=5)  # fmt: skip
    arch = dict(up, lumbar_flex=-30, thor_flex=-15, neck_flex=-40)
    f_lunge = dict(up, l_hip_flex=60, l_knee_flex=45, r_hip_flex=-20, r_knee_flex=5, pitch=30)
    f_down = dict(up, l_hip_flex=110, l_knee_flex=10, r_hip_flex=-30, r_knee_flex=5, pitch=110)
    f_top = dict(arch, l_hip_flex=110, r_hip_flex=-30, l_knee_flex=5, r_knee_flex=5, pitch=180)
    f_bridge = dict(arch, l_hip_flex=90, r_hip_flex=-30, l_knee_flex=5, r_knee_flex=15,
                    pitch=250)  # fmt: skip
    f_rise = dict(up, lumbar_flex=-20, thor_flex=-10, neck_flex=-20, l_hip_flex=80,
                  r_hip_flex=-25, l_knee_flex=5, r_knee_flex=10, pitch=320)  # fmt: skip
    k_front = [(0.0, {}), (0.1, up), (0.22, f_lunge), (0.36, f_down), (0.5, f_top),
               (0.64, f_bridge), (0.8, f_rise), (0.92, dict(up, pitch=360)),
               (1.0, dict(pitch=360))]  # fmt: skip
    b_bend = dict(arch, l_hip_flex=40, l_knee_flex=5, r_hip_flex=-25, r_knee_flex=15, pitch=-45)
    b_bridge = dict(arch, l_hip_flex=60, l_knee_flex=5, r_hip_flex=-30, r_knee_flex=25,
                    pitch=-130)  # fmt: skip
    b_top = dict(arch, l_hip_flex=110, r_hip_flex=-30, l_knee_flex=5, r_knee_flex=5, pitch=-180)
    b_step = dict(up, lumbar_flex=-10, l_hip_flex=110, l_knee_flex=5, r_hip_flex=-25,
                  r_knee_flex=5, pitch=-250)  # fmt: skip
    b_land = dict(up, l_hip_flex=20, l_knee_flex=10, r_hip_flex=-30, r_knee_flex=5, pitch=-330)
    k_back = [(0.0, {}), (0.1, up), (0.25, b_bend), (0.4, b_bridge), (0.55, b_top),
              (0.7, b_step), (0.85, b_land), (1.0, dict(pitch=-360))]  # fmt: skip
    h_sit = dict(l_hip_flex=80, r_hip_flex=80, l_knee_flex=85, r_knee_flex=85, l_sho_flex=-40,
                 r_sho_flex=-40, pitch=25, lumbar_flex=15)  # fmt: skip
    h_jump = dict(arch, l_hip_flex=-15, r_hip_flex=-15, l_knee_flex=15, r_knee_flex=15,
                  pitch=-70, lift=0.25)  # fmt: skip
    h_hands = dict(arch, lumbar_flex=-20, l_hip_flex=-10, r_hip_flex=-10, l_knee_flex=10,
                   r_knee_flex=10, pitch=-175, lift=0.05)  # fmt: skip
    h_snap = dict(up, l_hip_flex=45, r_hip_flex=45, l_knee_flex=20, r_knee_flex=20,
                  lumbar_flex=15, pitch=-260, lift=0.15)  # fmt: skip
    h_land = dict(l_hip_flex=60, r_hip_flex=60, l_knee_flex=70, r_knee_flex=70, l_sho_flex=150,
                  r_sho_flex=150, lumbar_flex=15, pitch=-335)  # fmt: skip
    h_swing = dict(l_hip_flex=40, r_hip_flex=40, l_knee_flex=55, r_knee_flex=55, l_sho_flex=90,
                   r_sho_flex=90, pitch=0, lift=0.05)  # fmt: skip
    k_hs = [(0.0, {}), (0.12, h_sit), (0.22, h_swing), (0.38, h_jump), (0.53, h_hands),
            (0.68, h_snap), (0.83, h_land), (1.0, dict(pitch=-360))]  # fmt: skip
    _apply_variants(o, p, _variant(s, "walkover"), [k_front, k_back, k_hs])


_FUNCS = dict(
    standing=_standing, walking=_walking, sitting=_sitting, sit_to_stand=_sit_to_stand,
    squat_pickup=_squat_pickup, reaching=_reaching, gesturing=_gesturing,
    hand_to_face=_hand_to_face, turning=_turning, running=_running, jumping=_jumping,
    kicking=_kicking, punching=_punching, dancing=_dancing, dance_expressive=_dance_expressive,
    spinning=_spinning, turning_kick=_turning_kick, martial_arts=_martial_arts,
    swinging=_swinging, crawling=_crawling, lying=_lying, rolling=_rolling,
    getting_up=_getting_up, handstand=_handstand, cartwheel=_cartwheel, flip=_flip,
    walkover=_walkover,
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
        body.axis_rotation(2, o.x["yaw"])
        @ body.axis_rotation(0, -o.x["pitch"])
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


def trajectory(movement: str, num_frames: int, *, seed: int = 0, variant: str | None = None):
    """One subject performing one cycle of ``movement`` in ``num_frames`` frames (no noise);
    ``variant``: one of ``VARIANTS[movement]`` (default: the subject's draw).

    Returns angles ``(F, 25)``, tilt ``(F, 3, 3)``, lift ``(F,)`` (see :func:`sample_movement`).
    """
    if movement not in _FUNCS:
        raise ValueError(f"unknown movement {movement!r}; known: {MOVEMENTS}")
    rng = np.random.default_rng(seed)
    style = sample_styles(rng, 1)
    style = {k: np.repeat(v, num_frames, axis=0) for k, v in style.items()}
    if variant is not None:
        names = VARIANTS.get(movement, ())
        if variant not in names:
            raise ValueError(f"{movement!r} has no variant {variant!r}; variants: {names}")
        style["rhythm"][:, 0] = (names.index(variant) + 0.5) / len(names)
    phase = np.arange(num_frames) / num_frames
    return _evaluate(movement, phase, style, rng, noise_deg=0.0)
