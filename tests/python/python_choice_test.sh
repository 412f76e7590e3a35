#!/usr/bin/env bash
# The interpreter a plain configure chooses for the module and the tests (cmake/PghaPython.cmake)
# has pytest, even when the first python3 on PATH has not; and a -DPython_EXECUTABLE without
# pytest stops the configure with a message that says what to do.
#   usage: python_choice_test.sh SOURCE_DIR WORK_DIR CMAKE C_COMPILER CXX_COMPILER
set -euo pipefail
src=$1 work=$2 cmake=$3 cc=$4 cxx=$5
rm -rf "$work" && mkdir -p "$work/fake-bin"
fail() { echo "FAIL: $*" >&2; exit 1; }

# A python3 like a pyenv one without pytest: a working interpreter (with Python.h) that cannot
# import pytest (-S: no site-packages, -I: no PYTHON* variables).
real=/usr/bin/python3
"$real" -c 'import pytest' 2>/dev/null || fail "$real has no pytest: this test needs it"
fake=$work/fake-bin/python3
printf '#!/bin/sh\nexec %s -I -S "$@"\n' "$real" > "$fake"
chmod +x "$fake"
if "$fake" -c 'import pytest' 2>/dev/null; then fail "the fake python3 imports pytest"; fi

configure() {  # build-dir extra-args...: the configure's output in $work/<build-dir>.log
  local dir=$1; shift
  env -u Python_EXECUTABLE PATH="$work/fake-bin:$PATH" "$cmake" -S "$src" -B "$work/$dir" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release \
    -DPGHA_BUILD_BENCH=OFF "$@" > "$work/$dir.log" 2>&1
}
cached() { sed -n "s|^$1:[A-Z]*=||p" "$work/$2/CMakeCache.txt"; }

# 1. A plain configure with the fake first on PATH picks an interpreter that has pytest.
configure plain || { tail -20 "$work/plain.log" >&2; fail "a plain configure failed"; }
chosen=$(cached PGHA_PYTHON_EXECUTABLE plain)
[ -n "$chosen" ] || fail "no PGHA_PYTHON_EXECUTABLE in the cache"
[ "$chosen" != "$fake" ] || fail "the configure chose $fake, which has no pytest"
"$chosen" -c 'import pytest' || fail "the chosen $chosen has no pytest"
echo "plain configure, $fake first on PATH: chose $chosen"

# 2. Asked for the interpreter without pytest, the configure stops and says what to do.
if configure explicit -DPython_EXECUTABLE="$fake"; then
  fail "configured with -DPython_EXECUTABLE=$fake, which has no pytest"
fi
msg=$(tr '\n' ' ' < "$work/explicit.log" | tr -s ' ')
for want in "Python_EXECUTABLE=$fake" "no pytest" "python3-pytest" "-DPython_EXECUTABLE=/usr/bin/python3"; do
  case $msg in *"$want"*) ;; *) cat "$work/explicit.log" >&2; fail "the message lacks '$want'";; esac
done
echo "-DPython_EXECUTABLE=$fake: configure stopped with the message"
rm -rf "$work"
echo PASS
