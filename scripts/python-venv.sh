#!/usr/bin/env bash
# Creates .venv-python, the Python environment of examples/python (the Python caller and its pytest suite), from
# examples/python/requirements.txt. Idempotent: a stamp of the requirements' hash skips the work when nothing changed,
# so the Jest test that runs the suite and .ci/run can both call it.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-python
requirements=examples/python/requirements.txt
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  echo "$venv is current ($requirements unchanged)"
  exit 0
fi

python="${PYTHON:-python3}"
echo "creating $venv with $("$python" --version) from $requirements"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
echo "$wanted" >"$stamp"
echo "$venv is ready"
