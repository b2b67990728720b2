#!/usr/bin/env bash
# One prepared command for a short GPU window: builds random InternVL3-8B-shaped bf16 weights on
# the GPU, measures the real engine path and prints one table in under 8 minutes.
#
#   bash bench/gpu_suite.sh            # on the GPU machine
#   bash bench/gpu_suite.sh --smoke    # the same script on the CPU with tiny shapes, in seconds (CI runs it)
#
# Nothing needs installing there: the project is put on PYTHONPATH from this checkout. Python packages the
# machine lacks travel as wheels in <repo>/.whl (bench/gpu_wheels.txt lists them and how to fetch them);
# they go into a private folder, never over the machine's torch. The real tokenizer, when carried in
# bench/out/tokenizer/, gives prompts their real 510 tokens. PYTHON picks the interpreter (default python3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
python="${PYTHON:-python3}"
extra=""
if compgen -G "$repo/.whl/*.whl" >/dev/null; then
  site="${TMPDIR:-/tmp}/artimuse-gpu-site"
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
    "$repo"/.whl/*.whl
  extra=":$site"
fi
export PYTHONPATH="$repo$extra${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$python" "$here/gpu_suite.py" "$@"
