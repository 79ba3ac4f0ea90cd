#!/bin/sh
# Regenerate every file under tests/data/flux/, sd3/, sd3-text/, sd3-pipeline/ and sd3-generate/ (about half a
# minute on one core; the SD3 pipeline golden reads the VAE of make_pipeline_goldens.py).
# PYTHON: the reference venv's interpreter (see tools/reference/README.md).
set -eu
PYTHON="${PYTHON:-python3}"
here="$(dirname "$0")"
"$PYTHON" "$here/make_flux_goldens.py"
"$PYTHON" "$here/resdit_reference.py"
"$PYTHON" "$here/make_lora_goldens.py"
"$PYTHON" "$here/make_sd3_goldens.py"
"$PYTHON" "$here/make_sd3_resdit_goldens.py"
"$PYTHON" "$here/make_sd3_pipeline_goldens.py"
"$PYTHON" "$here/make_sd3_text_goldens.py"
"$PYTHON" "$here/make_sd3_generate_goldens.py"
