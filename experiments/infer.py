"""3D poses and cameras from anyone's 2D keypoints, with a trained checkpoint.

    python -m experiments.infer --workdir=runs/joint --input=detections.json --output=out.json \\
        [--figures=figs/] [--images=coco_val_annotations.json | --image-size W H] [--flip]

Input (`--input`, read by `cpose_jax.io_keypoints`; see its docstring for every detail):

* COCO-style JSON, a detector's output: a list of `{"image_id", "keypoints": [x, y, score] * 17,
  "score"?}` (or a COCO annotation file, `"annotations"`). Image sizes, per image: an `"images"`
  list `{id, width, height}` in the same file (as in COCO), or `--images=ANN.json` (a COCO file
  with that list), or per-entry `"image_size": [w, h]`, or `--image-size W H` for all.
* `.npy` `(N, K, 3)` [x, y, score] / `(N, K, 2)` pixels with `--image-size W H`; `.npz` with
  `keypoints (N, K, 2|3)` [+ `confidence (N, K)`], `image_size (N, 2) | (2,)`, optional `layout`,
  `image_id`; or a prepared dataset `.npz` (the data schema).
* `--layout` (coco17, h36m17, mpii16, openpose18, ...): the source joint order, mapped to
  Human3.6M-17 by `cpose_jax.data.joint_maps` (the one mapping table). JSON defaults to coco17;
  arrays infer it from the joint count, and a count several layouts share (16, 17) needs
  `--layout`. Missing keypoints (score / visibility 0) get confidence 0; people with no usable
  keypoint are skipped (counted; the same rule as `data_prep.coco` and `data_prep.detections`).
  Keypoints mostly outside the declared image size are refused (a wrong `--image-size`).

Output (`--output PATH`): `PATH.json` and `PATH.npz`, names taken as given (`run.2024.v2` ->
`run.2024.v2.json`; a `.json` or `.npz` suffix stands for both); `--output DIR/` (a trailing `/`
or an existing folder) -> `DIR/predictions.json` and `DIR/predictions.npz`. Existing files are
refused unless `--overwrite`. Every output path is checked before any work; the JSON, the npz
and the figures are built in memory (non-finite numbers refused) and written all or nothing
(temporary files in the target folder, renamed into place; `cpose_jax.atomic_io`), so a failed
run leaves nothing behind and never a half-written file. Per person, in the Human3.6M-17 order
(`joint_names` in the JSON):

* `pose_3d` `(17, 3)` metres, root-relative (pelvis = 0), camera frame (x right, y down,
  z forward);
* `camera`: `fx, fy, cx, cy` pixels and `t` `(3,)` metres (the pelvis in the camera frame), so
  `x = fx * X / Z + cx`, `y = fy * Y / Z + cy` for `(X, Y, Z) = pose_3d + t`;
* `reprojection_2d` `(17, 2)` pixels (that projection) and `reprojection_error_px` (mean distance
  to the input over joints with confidence > 0);
* the input it used: `keypoints_2d` `(17, 2)` px, `confidence` `(17,)`, `image_size`, `image_id`,
  `source_index` (entry in the input file); `keypoints_2d_refined` when the model has a refiner
  (which is then applied). A model without a camera branch gives no camera / reprojection.
The `.npz` holds the same arrays stacked over people.

Figures: `--figures DIR/` (a trailing `/`, an existing folder or a name without suffix) writes
PNG grids (input 2D | 3D front | 3D side | reprojection over the input, like the paper's Fig. 8)
of the first `--max-figures` people, `--figure-rows` per page (`DIR/people_000.png`, ...);
`--figures FILE.png` (or .pdf/.svg) one figure; other suffixes are refused. `--figure-people
3,17,42` picks the people drawn; `--image-dir DIR` draws the input images (the COCO `images`
list's `file_name`) under the 2D panels.

The README's example figure (docs/figures/infer_example.png), from the main command's run::

    python -m experiments.run --config=experiments/joint.py --workdir=runs/joint
    python -m experiments.infer --workdir=runs/joint --input=synthetic:rig2_test \\
        --output=runs/joint/infer/rig2_test --figures=docs/figures/infer_example.png \\
        --figure-people=1591,2835,2975,3164

(`--input=synthetic:SPLIT` reads a split of the synthetic world the run was trained with, here
the simulated detections of the 3DHP-like second-rig test set; the four people are a squat, a
kick, a sitting and a lying pose with root-relative MPJPE near that set's median, 124 mm. The
committed figure came from that run's best checkpoint on world v5, step 2088 of 2115, val MPJPE
68.75 mm.)

Inference is jitted and batched (`--batch-size`, padded to a few fixed sizes so nothing
recompiles); the time per pose is printed. Exit status 0, or 2 with a one-line
`error: ...` (nothing written) for unreadable input, missing checkpoint, bad options, an existing
output without `--overwrite`, or non-finite outputs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cpose_jax import atomic_io, inference
from cpose_jax.io_keypoints import KeypointInputError, Keypoints, load_keypoints
from experiments.evaluate import EvaluateError, load_model, run_config


def infer(
    model: inference.PoseModel,
    keypoints: Keypoints,
    *,
    batch_size: int = 1024,
    flip: bool = False,
    fn=None,
) -> dict[str, np.ndarray]:
    """Predictions for every person (numpy, leading axis N) plus the input it used; see the
    module docstring. fn: a `cpose_jax.inference.make_pixel_predict` function to reuse."""
    arrays = {
        "keypoints_2d": keypoints.keypoints_2d.astype(np.float32),
        "confidence": keypoints.confidence.astype(np.float32),
        "image_size": keypoints.image_size.astype(np.float32),
    }
    out = inference.predict_pixels(model, **arrays, batch_size=batch_size, flip=flip, fn=fn)
    out = dict(out, **arrays)
    if "reprojection" in out:
        d = np.linalg.norm(out["reprojection"] - out["keypoints_2d"], axis=-1)
        w = (out["confidence"] > 0).astype(np.float32)
        out["reprojection_error_px"] = (d * w).sum(-1) / np.maximum(w.sum(-1), 1.0)
    out["image_id"] = keypoints.image_id
    out["source_index"] = keypoints.source_index
    if keypoints.file_name is not None:
        out["file_name"] = keypoints.file_name
    return out


def _r(x, nd: int = 4):
    return np.round(np.asarray(x, np.float64), nd).tolist()


def to_json(model: inference.PoseModel, keypoints: Keypoints, out: dict[str, np.ndarray]) -> dict:
    """The JSON document: model info, joint names, units and one record per person."""
    people = []
    for i in range(len(keypoints)):
        p: dict[str, Any] = {
            "index": i,
            "image_id": str(out["image_id"][i]),
            "source_index": int(out["source_index"][i]),
            **({"file_name": str(out["file_name"][i])} if "file_name" in out else {}),
            "image_size": _r(out["image_size"][i], 1),
            "pose_3d": _r(out["pose_3d"][i], 5),
        }
        if "intrinsics" in out:
            fx, fy, cx, cy = (float(v) for v in out["intrinsics"][i])
            p["camera"] = {
                "fx": round(fx, 3),
                "fy": round(fy, 3),
                "cx": round(cx, 3),
                "cy": round(cy, 3),
                "t": _r(out["translation"][i], 5),
            }
            p["reprojection_2d"] = _r(out["reprojection"][i], 3)
            p["reprojection_error_px"] = round(float(out["reprojection_error_px"][i]), 3)
        p["keypoints_2d"] = _r(out["keypoints_2d"][i], 3)
        p["confidence"] = _r(out["confidence"][i], 4)
        if "keypoints_2d_refined" in out:
            p["keypoints_2d_refined"] = _r(out["keypoints_2d_refined"][i], 3)
        people.append(p)
    return {
        "skeleton": model.skeleton.name,
        "joint_names": list(model.skeleton.joint_names),
        "units": {
            "pose_3d": "metres, root-relative (joint 0 = pelvis at 0), camera frame x right, "
            "y down, z forward",
            "camera": "fx, fy, cx, cy pixels; t metres (pelvis in the camera frame)",
            "2d": "pixels, x right, y down",
        },
        "model": {
            "workdir": str(model.workdir),
            "config": model.name,
            "checkpoint": model.description,
            "networks": list(model.networks),
            "refiner_applied": "refiner" in model.modules,
        },
        "input": {"path": keypoints.path, "layout": keypoints.layout, "skipped": keypoints.skipped},
        "num_people": len(keypoints),
        "people": people,
    }


def output_paths(output: str) -> tuple[Path, Path]:
    """`--output` -> (JSON path, npz path); see the module docstring. Names are taken as given."""
    if output.endswith(("/", "\\")) or Path(output).is_dir():
        base = Path(output) / "predictions"
        return base.with_name("predictions.json"), base.with_name("predictions.npz")
    base = Path(output)
    if base.suffix.lower() in (".json", ".npz"):
        base = base.with_name(base.name[: -len(base.suffix)])
    return base.with_name(base.name + ".json"), base.with_name(base.name + ".npz")


_FIGURE_FORMATS = (".png", ".pdf", ".svg")


def figure_target(figures: str) -> tuple[Path, bool]:
    """`--figures` -> (path, single file?): a .png/.pdf/.svg name is one file; a trailing '/',
    an existing folder or a name without suffix is a folder of pages; anything else is refused."""
    path = Path(figures)
    if figures.endswith(("/", "\\")) or path.is_dir() or not path.suffix:
        return path, False
    if path.suffix.lower() in _FIGURE_FORMATS:
        return path, True
    raise EvaluateError(
        f"--figures {figures}: unsupported figure format {path.suffix!r}; use a name ending in "
        f"{', '.join(_FIGURE_FORMATS)} (one figure) or a folder (ending in '/') for pages"
    )


def output_files(model, keypoints, out) -> tuple[bytes, bytes]:
    """(JSON bytes, npz bytes) of the predictions; refuses non-finite numbers."""
    bad = [
        k for k, v in out.items() if np.asarray(v).dtype.kind == "f" and not np.isfinite(v).all()
    ]
    if bad:
        rows = np.zeros(len(keypoints), bool)
        for k in bad:
            v = np.asarray(out[k])
            rows |= ~np.isfinite(v.reshape(len(v), -1)).all(-1)
        first = int(np.flatnonzero(rows)[0])
        raise EvaluateError(
            f"{keypoints.path}: non-finite outputs ({', '.join(bad)}) for {int(rows.sum())} of "
            f"{len(keypoints)} people (first: entry {int(out['source_index'][first])}); "
            "are the input coordinates in pixels of the declared image size?"
        )
    doc = atomic_io.json_bytes(to_json(model, keypoints, out), source=str(keypoints.path))
    arrays = {k: np.asarray(v) for k, v in out.items()}
    arrays["joint_names"] = np.asarray(model.skeleton.joint_names)
    return doc, atomic_io.npz_bytes(arrays)


def write_outputs(path: str | Path, model, keypoints, out, *, overwrite: bool = True):
    """Writes `PATH.json` and `PATH.npz` (see `output_paths`) all or nothing."""
    jpath, npath = output_paths(str(path))
    atomic_io.check_targets([jpath, npath], overwrite=overwrite)
    doc, npz = output_files(model, keypoints, out)
    atomic_io.write_files({jpath: doc, npath: npz})
    return jpath, npath


def figure_files(
    target: str | Path,
    out: dict[str, np.ndarray],
    *,
    skeleton,
    people: Sequence[int] | None = None,
    max_people: int = 12,
    rows: int = 4,
    title: str | None = None,
    image_dir: str | Path | None = None,
) -> dict[Path, bytes]:
    """Figures of `people` (indices; default the first `max_people`), rendered in memory.

    target: a folder -> pages of `rows` people (`people_000.png`, ...); a file name ending in
    .png / .pdf / .svg -> one figure with every selected person (`figure_target`).
    image_dir: where the input's image files (`file_name`) are; found images are drawn under
    the 2D panels.
    """
    from cpose_jax import viz

    n = len(out["pose_3d"])
    people = list(range(min(n, max_people))) if people is None else list(people)
    bad = [i for i in people if not 0 <= i < n]
    if bad:
        raise EvaluateError(f"--figure-people {bad} out of range: {n} people")
    target, single = figure_target(str(target))
    pages = [people] if single else [people[i : i + rows] for i in range(0, len(people), rows)]
    files = {}
    for page, chunk in enumerate(pages):
        drawn = []
        for i in chunk:
            person = {
                "keypoints_2d": out["keypoints_2d"][i],
                "confidence": out["confidence"][i],
                "pose_3d": out["pose_3d"][i],
                "image_size": out["image_size"][i],
                "label": f"person {i} · id {out['image_id'][i]}",
            }
            if "reprojection" in out:
                person["reprojection"] = out["reprojection"][i]
                person["reprojection_error_px"] = float(out["reprojection_error_px"][i])
            if image_dir is not None and "file_name" in out and out["file_name"][i]:
                image_path = Path(image_dir) / str(out["file_name"][i])
                if image_path.is_file():
                    from matplotlib.image import imread

                    person["image"] = imread(image_path)
            drawn.append(person)
        fig = viz.grid_figure(drawn, skeleton=skeleton, title=title)
        path = target if single else target / f"people_{page:03d}.png"
        files[path] = atomic_io.figure_bytes(fig, fmt=path.suffix[1:].lower())
    return files


def write_figures(target: str | Path, out: dict[str, np.ndarray], **kwargs) -> list[Path]:
    """`figure_files` written all or nothing (existing files are replaced)."""
    return atomic_io.write_files(figure_files(target, out, **kwargs))


def figure_page_paths(figures: str, num_drawn: int, rows: int) -> list[Path]:
    """The files `--figures` will write for `num_drawn` people (checked before any work)."""
    target, single = figure_target(figures)
    if single:
        return [target]
    return [target / f"people_{p:03d}.png" for p in range(-(-num_drawn // rows))]


def synthetic_split(model: inference.PoseModel, spec: str) -> Path:
    """`synthetic:SPLIT` -> the path of that split of the run's synthetic world."""
    from cpose_jax.data import synthetic

    split = spec.split(":", 1)[1]
    if split not in synthetic.SPLITS:
        raise EvaluateError(f"unknown synthetic split {split!r}; known: {synthetic.SPLITS}")
    from experiments import datasets

    return datasets.synthetic_world(run_config(model))[split]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m experiments.infer",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--workdir", required=True, help="training work directory")
    p.add_argument(
        "--input", required=True, help="keypoints: .json (COCO-style), .npy, .npz, synthetic:SPLIT"
    )
    p.add_argument(
        "--output",
        required=True,
        help="PATH -> PATH.json and PATH.npz (a .json/.npz suffix is replaced); DIR/ -> "
        "DIR/predictions.json and .npz",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--figures", default=None, help="folder for PNG pages, or one .png/.pdf file")
    p.add_argument("--max-figures", type=int, default=12, help="people drawn (default 12)")
    p.add_argument("--figure-people", default=None, help="comma-separated person indices to draw")
    p.add_argument("--image-dir", default=None, help="draw the input images (COCO file_name)")
    p.add_argument("--figure-rows", type=int, default=4, help="people per figure page")
    p.add_argument("--layout", default=None, help="source joint layout (default coco17)")
    p.add_argument("--images", default=None, help="COCO annotation JSON with image sizes")
    p.add_argument("--image-size", type=float, nargs=2, metavar=("W", "H"), default=None)
    p.add_argument("--min-keypoints", type=int, default=1, help="skip people with fewer")
    p.add_argument("--min-score", type=float, default=0.0, help="skip people scored below")
    p.add_argument("--checkpoint", default="best", help="best | latest | STEP")
    p.add_argument("--flip", action="store_true", help="test-time flip augmentation")
    p.add_argument("--batch-size", type=int, default=1024)
    return p


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    synth = args.input.startswith("synthetic:")
    # Every option and output path is checked before any work; every output is built in
    # memory and written all or nothing at the end (cpose_jax.atomic_io).
    try:
        if args.batch_size < 1 or args.max_figures < 0 or args.figure_rows < 1:
            raise EvaluateError("--batch-size and --figure-rows must be >= 1, --max-figures >= 0")
        people = None
        if args.figure_people:
            try:
                people = [int(i) for i in args.figure_people.split(",") if i.strip()]
            except ValueError:
                raise EvaluateError(
                    f"--figure-people must be comma-separated person indices, got "
                    f"{args.figure_people!r}"
                ) from None
        jpath, npath = output_paths(args.output)
        targets = [jpath, npath]
        draw = bool(args.figures) and args.max_figures > 0
        if draw:
            figure_target(args.figures)  # refuses an unsupported format now
        atomic_io.check_targets(targets, overwrite=args.overwrite)
        model = load_model(args.workdir, checkpoint=args.checkpoint) if synth else None
        keypoints = load_keypoints(
            synthetic_split(model, args.input) if synth else args.input,
            layout=args.layout,
            images=args.images,
            image_size=tuple(args.image_size) if args.image_size else None,
            min_keypoints=args.min_keypoints,
            min_score=args.min_score,
        )
        draw = draw and len(keypoints) > 0
        if draw:
            n_drawn = min(len(keypoints), args.max_figures) if people is None else len(people)
            bad = [i for i in (people or []) if not 0 <= i < len(keypoints)]
            if bad:
                raise EvaluateError(
                    f"--figure-people {bad} out of range: {len(keypoints)} people in {args.input}"
                )
            pages = figure_page_paths(args.figures, n_drawn, args.figure_rows)
            atomic_io.check_targets(pages, overwrite=args.overwrite)
        model = model or load_model(args.workdir, checkpoint=args.checkpoint)
    except (KeypointInputError, EvaluateError, atomic_io.OutputError) as e:
        return _fail(str(e))
    skipped = ", ".join(f"{k} {v}" for k, v in keypoints.skipped.items()) or "none"
    print(
        f"{len(keypoints)} people from {args.input} (layout {keypoints.layout}; skipped: "
        f"{skipped}); model {model.name}, {model.description}, networks "
        f"{', '.join(model.networks)}"
    )
    fn = inference.make_pixel_predict(model, flip=args.flip)
    t0 = time.perf_counter()
    out = infer(model, keypoints, batch_size=args.batch_size, flip=args.flip, fn=fn)
    t1 = time.perf_counter()
    if len(keypoints):
        # Second pass: the programs are compiled now, so this is the steady-state rate.
        infer(model, keypoints, batch_size=args.batch_size, flip=args.flip, fn=fn)
        t2 = time.perf_counter()
        print(
            f"inference: {len(keypoints)} poses in {t1 - t0:.3f} s with compilation, "
            f"{t2 - t1:.3f} s compiled ({len(keypoints) / max(t2 - t1, 1e-9):,.0f} poses/s)"
        )
    try:
        doc, npz = output_files(model, keypoints, out)
        files = {jpath: doc, npath: npz}
        if draw:
            files |= figure_files(
                args.figures,
                out,
                skeleton=model.skeleton,
                people=people,
                max_people=args.max_figures,
                rows=args.figure_rows,
                title=f"{model.name} ({model.description}): {Path(args.input).name}",
                image_dir=args.image_dir,
            )
        atomic_io.write_files(files)
    except (EvaluateError, atomic_io.OutputError) as e:
        return _fail(str(e))
    except OSError as e:  # e.g. a full disk: nothing was left behind
        return _fail(f"cannot write the outputs ({type(e).__name__}: {e}); nothing was written")
    print(f"written {jpath} and {npath}")
    if "reprojection_error_px" in out and len(keypoints):
        print(f"mean reprojection error: {float(np.mean(out['reprojection_error_px'])):.2f} px")
    if draw:
        print(f"figures: {', '.join(str(p) for p in list(files)[2:])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
