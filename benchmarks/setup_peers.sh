#!/usr/bin/env bash
# Create benchmarks/.venv-peers with the peer IRT packages (girth, py-irt, mirt) for
# benchmarks/calibration.py. Torch is installed FIRST and pinned: py-irt pulls torch via
# pyro, and an unpinned torch is a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
VENV=.venv-peers
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --upgrade pip
"$VENV/bin/python" -m pip install torch==2.13.0
# keep torch pinned while the peers resolve their dependencies
"$VENV/bin/python" -m pip install torch==2.13.0 py-irt girth mirt
"$VENV/bin/python" -m pip list 2>/dev/null | grep -i -E "^(torch|pyro-ppl|py-irt|girth|mirt) "
version=$("$VENV/bin/python" -c "import torch; print(torch.__version__)")
case "$version" in
    2.13.0*) echo "torch $version: ok" ;;
    *) echo "torch $version: expected 2.13.0" >&2; exit 1 ;;
esac
