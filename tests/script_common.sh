# Sourced (not run) by the script tests that take QRT_BINARY SOURCE_DIR WORK_DIR (script_tests.cmake):
#   source "$(dirname "$0")/script_common.sh"
# Checks the script's arguments (the caller's "$@") and sets QRT, SRC, WORK, and PY (Debian's
# Python, which has numpy, onnx and cv2; the python3 first on PATH may not).
if [[ $# -ne 3 ]]; then
  echo "usage: $0 QRT_BINARY SOURCE_DIR WORK_DIR" >&2
  exit 2
fi
QRT="$1"
SRC="$2"
WORK="$3"
PY=/usr/bin/python3
