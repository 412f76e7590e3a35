#!/usr/bin/env bash
# Configures and builds pgha in build/ (executables in build/bin, the Python package in
# build/python). Extra arguments go to CMake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPython_EXECUTABLE="$python" "$@"
cmake --build build -j"$(nproc)"
