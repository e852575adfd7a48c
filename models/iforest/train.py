"""Trains the shipped Isolation Forest and exports it for the anomaly engine.

Re-run everything (features, training, export, reference) with

    models/iforest/train.sh

which makes the feature vectors through the native FeatureStore
(features.ts) and then runs

    python models/iforest/train.py BUILD_DIR models/iforest

in a venv with scikit-learn 1.9.1, skl2onnx 1.20.0 and onnxruntime 1.31.1.
Seeded: the same data give the same forest. It writes, in models/iforest:

- iforest.onnx: the forest (skl2onnx, opsets {'': 17, 'ai.onnx.ml': 3}); one
  float input [N, len(inputs)], output "scores" = sklearn's
  decision_function = score_samples - offset_.
- model.json: name, version, inputs (core features, in order), how each input
  is prepared before the forest (NaN replaced, clipped: the same here and in
  src/anomaly/onnx.ts), and how the raw output maps to a score in [0, 1]:
      s = -(scores + offset)          # sklearn's -score_samples, in (0, 1]
      score = clamp((s - lo) / (hi - lo), 0, 1)
  lo is the 95th percentile of s on the normal training rows, hi the 99.95th:
  one normal round in 20 scores above 0, one in 2,000 scores 1. (The forest
  is a weak detector on these features: the injected anomalies of the
  reference set score about as high as the top 1-3 % of normal rounds; the
  numbers are printed at the end of a run and in docs/anomaly.md.)
- reference.json: per row (held-out normal rows and injected anomalies) the
  raw feature vector (`raw`, as the engine reads it; NaN as null, infinities
  as the strings "inf" and "-inf", which JSON has no numbers for), the prepared float32
  vector (`x`), scikit-learn's decision_function and the calibrated score; the
  test (src/anomaly/onnx.test.ts) checks the ONNX model in onnxruntime-node
  gives the same within 1e-5, from `x` and from `raw` through the model's own
  preparation.
"""

import csv
import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import sklearn
import skl2onnx
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import IsolationForest

NAME = "iforest"
VERSION = "1"
SEED = 20261201
# Scale-free features of the core (native/core/src/features.rs); the raw value is not.
INPUTS = ["robust_z", "peak_z", "silence_ratio", "flat_run", "typical_flat_run"]
# Per input: what NaN becomes, the range it is clipped to (robust_z is ±inf
# when the window's MAD is 0; typical_flat_run is NaN until a run has ended,
# as in a constant series: -1 keeps that apart from every real run length),
# then sign(x) * log1p(|x|): the forest splits uniformly between a node's
# smallest and largest value, so a heavy tail (a coarse sensor's robust_z is
# ±inf on any step) would leave the range where anomalies lie barely split.
# The clips also gather what is ordinary but extreme into one point, where
# the forest sees it as common: a coarse sensor's infinite robust_z at ±50,
# a constant series' ever longer flat run at 256.
PREPARE = {
    "robust_z": {"nan": 0.0, "min": -50.0, "max": 50.0, "log": True},
    "peak_z": {"nan": 0.0, "min": 0.0, "max": 100.0, "log": True},
    "silence_ratio": {"nan": 0.0, "min": 0.0, "max": 100.0, "log": True},
    "flat_run": {"nan": 0.0, "min": 0.0, "max": 256.0, "log": True},
    "typical_flat_run": {"nan": -1.0, "min": -1.0, "max": 256.0, "log": True},
}
TREES = 40
MAX_SAMPLES = 256


def read(path: Path) -> tuple[list[str], np.ndarray]:
    with path.open() as f:
        rows = list(csv.reader(f))
    header = rows[0]
    cols = [header.index(n) for n in INPUTS]
    kinds = [r[0] for r in rows[1:]]
    x = np.array([[float(r[c]) for c in cols] for r in rows[1:]], dtype=np.float64)
    return kinds, x


def prepare(x: np.ndarray) -> np.ndarray:
    """The model's input preparation, then float32 (what the ONNX model takes)."""
    out = x.copy()
    for j, name in enumerate(INPUTS):
        p = PREPARE[name]
        col = out[:, j]
        col[np.isnan(col)] = p["nan"]
        col = np.clip(col, p["min"], p["max"])
        if p["log"]:
            col = np.sign(col) * np.log1p(np.abs(col))
        out[:, j] = col
    return out.astype(np.float32)


def as_json(v: float) -> float | str | None:
    if math.isnan(v):
        return None
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def main() -> None:
    build, dest = Path(sys.argv[1]), Path(sys.argv[2])
    train_kinds, train = read(build / "train.csv")
    xt = prepare(train)
    normal = np.array([k == "normal" for k in train_kinds])
    forest = IsolationForest(n_estimators=TREES, max_samples=MAX_SAMPLES, random_state=SEED)
    forest.fit(xt)

    s_train = -forest.score_samples(xt[normal])
    lo = float(np.quantile(s_train, 0.95))
    hi = float(np.quantile(s_train, 0.9995))
    offset = float(forest.offset_)

    onx = convert_sklearn(
        forest,
        initial_types=[("features", FloatTensorType([None, len(INPUTS)]))],
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    onnx_bytes = onx.SerializeToString()
    (dest / "iforest.onnx").write_bytes(onnx_bytes)

    kinds, ref = read(build / "reference.csv")
    xr = prepare(ref)
    decision = forest.decision_function(xr)
    s_ref = -(decision + offset)
    score = np.clip((s_ref - lo) / (hi - lo), 0.0, 1.0)

    # The export checked here too: onnxruntime (Python) against scikit-learn.
    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    got = sess.run(["scores"], {"features": xr})[0].reshape(-1)
    worst = float(np.max(np.abs(got - decision)))
    if worst > 1e-5:
        raise SystemExit(f"onnxruntime and scikit-learn differ by {worst}")

    model = {
        "name": NAME,
        "version": VERSION,
        "inputs": INPUTS,
        "prepare": [PREPARE[n] for n in INPUTS],
        "onnx": {"file": "iforest.onnx", "sha256": hashlib.sha256(onnx_bytes).hexdigest(), "input": "features", "output": "scores"},
        "score": {
            "transform": "isolation",
            "formula": "s = -(output + offset); score = clamp((s - lo) / (hi - lo), 0, 1)",
            "offset": offset,
            "lo": lo,
            "hi": hi,
        },
        "training": {
            "rows": int(xt.shape[0]),
            "anomalous_rows": int((~normal).sum()),
            "trees": TREES,
            "max_samples": MAX_SAMPLES,
            "seed": SEED,
            "sklearn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__,
            "onnxruntime": ort.__version__,
            "train_s_quantiles": {q: float(np.quantile(s_train, float(q))) for q in ["0.5", "0.9", "0.95", "0.99", "0.999", "0.9995"]},
        },
    }
    (dest / "model.json").write_text(json.dumps(model, indent=2) + "\n")

    reference = {
        "inputs": INPUTS,
        "rows": [
            {"kind": k, "raw": [as_json(v) for v in raw.tolist()], "x": [float(v) for v in row], "decision": float(d), "score": float(sc)}
            for k, raw, row, d, sc in zip(kinds, ref, xr, decision, score)
        ],
    }
    (dest / "reference.json").write_text(json.dumps(reference, allow_nan=False) + "\n")

    by_kind: dict[str, list[float]] = {}
    for k, sc in zip(kinds, score):
        by_kind.setdefault(k, []).append(float(sc))
    print(f"iforest: {xt.shape[0]} training rows, {len(onnx_bytes)} bytes of ONNX, lo {lo:.4f} hi {hi:.4f}, onnxruntime vs sklearn {worst:.2e}")
    for k, v in sorted(by_kind.items()):
        v.sort()
        print(f"  {k:8} n={len(v):3} min {v[0]:.3f} median {v[len(v) // 2]:.3f} max {v[-1]:.3f} scored>0.5: {sum(x > 0.5 for x in v)}")


if __name__ == "__main__":
    main()
