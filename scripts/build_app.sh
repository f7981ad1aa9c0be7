#!/usr/bin/env bash
# Build Clickmask as a one-folder app (dist/clickmask/) and prove it runs:
#
#     scripts/build_app.sh
#
# From a clean checkout this creates .venv (`make install`: the pinned CPU torch, then
# Clickmask), adds PyInstaller (the `build` extra), builds annotator.spec, then runs the
# built app's --self-test headless and prints the build time and the bundle size. The build
# runs under `nice`: it is long and CPU-bound. Exit code 0 only if the build and the self-test
# both succeeded. VENV=... picks another virtual environment (as in the Makefile).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
APP=dist/clickmask

make --no-print-directory install VENV="$VENV"
if ! "$VENV/bin/python" -c "import PyInstaller" 2>/dev/null; then
  echo "Installing PyInstaller into $VENV (the 'build' extra)"
  "$VENV/bin/python" -m pip install --quiet -e ".[build]"
fi

echo "Building $APP with PyInstaller (several minutes)..."
started=$(date +%s)
nice -n 10 "$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN annotator.spec
built=$(date +%s)

echo "Running the built app's self-test (headless)..."
"$APP/clickmask" --self-test
tested=$(date +%s)

echo
echo "Build:     $((built - started)) s"
echo "Self-test: $((tested - built)) s"
echo "Bundle:    $(du -sh "$APP" | cut -f1) in $APP ($(find "$APP" -type f | wc -l) files)"
echo "Run it:    $APP/clickmask [FOLDER]"
