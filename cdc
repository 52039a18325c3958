#!/usr/bin/env bash
# Entry point on a fresh machine: installs the Node dependencies and builds the TypeScript when
# needed, then runs the CLI (dist/pipeline/cli/main.js). `./cdc test` runs the whole test suite,
# starting the native stack first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "error MISSING_BINARY: node and npm are needed (Node 20 or newer)" >&2
  echo "  fix: apt-get install -y nodejs npm" >&2
  exit 1
fi

# npm ci when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# Rebuild when any TypeScript source is newer than the build stamp.
stamp=dist/.build-stamp
if [ ! -f "$stamp" ] || [ -n "$(find connectors schemas projections pipeline tsconfig.json tsconfig.build.json -newer "$stamp" -print -quit)" ]; then
  npx tsc -p tsconfig.build.json >&2
  touch "$stamp"
fi

if [ "${1:-}" = "test" ]; then
  shift
  summary="$(mktemp)"
  # Jest's ESM support still sits behind this flag on Node 20. --forceExit: a client a failed test
  # left open must not keep jest alive after its summary; the timeout bounds a run that hangs
  # anyway (CDC_TEST_TIMEOUT_S, default 50 minutes), so the command always exits.
  set +e
  CDC_TEST_SUMMARY="$summary" NODE_NO_WARNINGS=1 timeout --kill-after=30 "${CDC_TEST_TIMEOUT_S:-3000}" \
    node --experimental-vm-modules node_modules/jest/bin/jest.js --ci --forceExit "$@" 2>&1
  status=$?
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "tests: the run exceeded ${CDC_TEST_TIMEOUT_S:-3000} s and was stopped (exit $status)" >&2
  fi
  set -e
  echo
  cat "$summary" 2>/dev/null || echo "tests: 0 passed, 1 failed (jest ended before reporting)"
  rm -f "$summary"
  exit "$status"
fi
# A worker's memory budget caps V8's old space at 5/8 of it (heapCapMiB in
# pipeline/engine/round-sizer.ts): fixed when Node starts, so it is given here.
node_flags=()
if [ "${1:-}" = "run" ]; then
  prev=""
  for arg in "$@"; do
    case "$arg" in --memory-mib=*) mib="${arg#--memory-mib=}" ;; esac
    [ "$prev" = "--memory-mib" ] && mib="$arg"
    prev="$arg"
  done
  if [[ "${mib:-}" =~ ^[0-9]+$ ]]; then node_flags+=("--max-old-space-size=$((mib * 5 / 8))"); fi
fi
exec node "${node_flags[@]}" dist/pipeline/cli/main.js "$@"
