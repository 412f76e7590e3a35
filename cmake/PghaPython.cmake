# Chooses the Python interpreter the module is built for, which is also the one the Python,
# integration and end-to-end tests run with (PGHA_PYTHON_EXECUTABLE). With the tests built it
# must have pytest, and for the module Python.h: the first python3 on PATH may not (a pyenv or
# venv interpreter without pytest, say), and the tests would then fail with "No module named
# pytest" long after configuring.
#
# -DPython_EXECUTABLE=PATH chooses it; it is checked, and configuring stops when it lacks
# pytest. Otherwise the first of: each python3 on PATH, in PATH order, then /usr/bin/python3,
# that has both; configuring stops, saying what to do, when none has.

# Sets ${out} to TRUE when `python` imports pytest (if `need_pytest`) and has Python.h, else
# to FALSE, with ${out}_WHY saying what is missing.
function(pgha_python_usable python need_pytest out)
  string(CONCAT probe "import os, sysconfig\n"
            "inc = sysconfig.get_paths().get('include') or ''\n"
            "if not os.path.exists(os.path.join(inc, 'Python.h')):\n"
            "    raise SystemExit('no Python.h in ' + repr(inc) + ' (its -dev package)')\n")
  if(need_pytest)
    string(APPEND probe "try:\n    import pytest\n"
                        "except ImportError as e:\n    raise SystemExit('no pytest: ' + str(e))\n")
  endif()
  execute_process(COMMAND "${python}" -c "${probe}" RESULT_VARIABLE rc OUTPUT_QUIET
                  ERROR_VARIABLE err TIMEOUT 30)
  if(rc EQUAL 0)
    set(${out} TRUE PARENT_SCOPE)
  else()
    string(STRIP "${err}" err)
    set(${out} FALSE PARENT_SCOPE)
    set(${out}_WHY "${err}" PARENT_SCOPE)
  endif()
endfunction()

function(pgha_choose_python)
  set(need_pytest ${PGHA_BUILD_TESTS})
  if(need_pytest)
    string(CONCAT fix "install python3-pytest (scripts/install-deps.sh does) or configure with "
           "-DPython_EXECUTABLE=/usr/bin/python3 (an interpreter with pytest and Python.h)")
  else()
    set(fix "configure with -DPython_EXECUTABLE=/usr/bin/python3 (an interpreter with Python.h)")
  endif()
  if(Python_EXECUTABLE)
    pgha_python_usable("${Python_EXECUTABLE}" ${need_pytest} ok)
    if(NOT ok)
      message(FATAL_ERROR "Python_EXECUTABLE=${Python_EXECUTABLE} cannot run the tests or build "
              "the module: ${ok_WHY}. The Python module is built for that interpreter and the "
              "tests run with it: ${fix}, or -DPGHA_BUILD_PYTHON=OFF to build without it.")
    endif()
    return()
  endif()
  set(candidates)
  string(REPLACE ":" ";" path_dirs "$ENV{PATH}")
  foreach(dir IN LISTS path_dirs)
    if(dir AND EXISTS "${dir}/python3" AND NOT IS_DIRECTORY "${dir}/python3")
      list(APPEND candidates "${dir}/python3")
    endif()
  endforeach()
  list(APPEND candidates /usr/bin/python3)
  list(REMOVE_DUPLICATES candidates)
  set(tried)
  foreach(python IN LISTS candidates)
    if(NOT EXISTS "${python}")
      continue()
    endif()
    pgha_python_usable("${python}" ${need_pytest} ok)
    if(ok)
      message(STATUS "Python for the module and the tests: ${python}")
      set(Python_EXECUTABLE "${python}" CACHE FILEPATH
          "The Python interpreter the module is built for and the tests run with")
      return()
    endif()
    string(APPEND tried "\n  ${python}: ${ok_WHY}")
  endforeach()
  message(FATAL_ERROR "No python3 on PATH or at /usr/bin/python3 can build the Python module "
          "and run its tests:${tried}\nTo fix: ${fix}, or -DPGHA_BUILD_PYTHON=OFF to build without "
          "the module.")
endfunction()
