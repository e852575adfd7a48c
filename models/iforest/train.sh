#!/bin/sh
# Re-runs the shipped Isolation Forest's whole pipeline, seeded (the same
# outputs every run): feature vectors through the native FeatureStore
# (features.ts, needs the built addon), then training, ONNX export and the
# reference vectors (train.py, in a venv with scikit-learn 1.9.1, skl2onnx
# 1.20.0 and onnxruntime 1.31.1, built once at
# ${XDG_CACHE_HOME:-~/.cache}/sentio/iforest-train). Writes iforest.onnx,
# model.json and reference.json here; commit them.
#
#   models/iforest/train.sh            (from the repository root)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv="${XDG_CACHE_HOME:-$HOME/.cache}/sentio/iforest-train"
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
if ! "$venv/bin/python" -c 'import sklearn, skl2onnx, onnxruntime; assert sklearn.__version__ == "1.9.1" and skl2onnx.__version__ == "1.20.0" and onnxruntime.__version__ == "1.31.1"' 2>/dev/null; then
  rm -rf "$venv"
  "${SENTIO_PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/pip" install --quiet scikit-learn==1.9.1 skl2onnx==1.20.0 onnxruntime==1.31.1
fi
cd "$root"
node --import tsx models/iforest/features.ts "$build"
"$venv/bin/python" models/iforest/train.py "$build" "$here"
