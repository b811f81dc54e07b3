#!/usr/bin/env bash
# THE test command: installs packages, builds and runs every test configuration.
# Fails fast with a non-zero exit on the first failure. Run with --help for details.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/test.sh [--quick] [--soak] [--help]

Steps (each bounded by `timeout`, the first failure stops the run):
  1. setup      scripts/setup.sh (Debian packages)
  2. plain      build/       RelWithDebInfo build + ctest
  3. sanitize   build-asan/  ASan+UBSan build + ctest (TESSERA_SIM_SEEDS=400)
  4. fuzz       build-fuzz/  clang libFuzzer build, each fuzzer runs for a while
  5. format     clang-format --dry-run --Werror over tracked *.h *.cc *.cpp

Flags:
  --quick   skip the sanitizer and fuzz steps
  --soak    export TESSERA_SOAK=1 so tests enable their long (opt-in) runs
  --help    show this text

Environment:
  TESSERA_FUZZERS         space-separated fuzz targets (default: tessera-raft-fuzz
                          tessera-resp-fuzz tessera-command-fuzz tessera-decoders-fuzz)
  TESSERA_FUZZ_SECONDS    libFuzzer -max_total_time per fuzzer (default: 45)
  TESSERA_TEST_TIMEOUT    ctest per-test timeout in seconds (default: 600; 3600 with --soak)
  TESSERA_SETUP_TIMEOUT   wall limit for setup (default: 1800)
  TESSERA_BUILD_TIMEOUT   wall limit for each configure+build (default: 5400)
  TESSERA_CTEST_TIMEOUT   wall limit for each ctest run (default: 3600; 14400 with --soak)
USAGE
}

QUICK=0
SOAK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    --soak) SOAK=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "test.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

if [[ $SOAK -eq 1 ]]; then
  export TESSERA_SOAK=1
fi

FUZZERS="${TESSERA_FUZZERS:-tessera-raft-fuzz tessera-resp-fuzz tessera-command-fuzz tessera-decoders-fuzz}"
FUZZ_SECONDS="${TESSERA_FUZZ_SECONDS:-45}"
SETUP_TIMEOUT="${TESSERA_SETUP_TIMEOUT:-1800}"
BUILD_TIMEOUT="${TESSERA_BUILD_TIMEOUT:-5400}"
if [[ $SOAK -eq 1 ]]; then
  TEST_TIMEOUT="${TESSERA_TEST_TIMEOUT:-3600}"
  CTEST_TIMEOUT="${TESSERA_CTEST_TIMEOUT:-14400}"
else
  TEST_TIMEOUT="${TESSERA_TEST_TIMEOUT:-600}"
  CTEST_TIMEOUT="${TESSERA_CTEST_TIMEOUT:-3600}"
fi
JOBS=2

START_ALL=$SECONDS
STEP_START=$SECONDS

step() {
  STEP_START=$SECONDS
  echo
  echo "==> $*"
}

step_done() {
  echo "--- ok ($((SECONDS - STEP_START))s)"
}

# bounded SECONDS CMD... : runs CMD under a wall-clock limit; reports a timeout clearly.
bounded() {
  local limit="$1"
  shift
  local rc=0
  timeout -k 30 "$limit" "$@" || rc=$?
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    echo "test.sh: timed out after ${limit}s: $*" >&2
  fi
  if [[ $rc -ne 0 ]]; then
    echo "test.sh: FAILED (exit $rc): $*" >&2
    exit "$rc"
  fi
}

configure_and_build() {
  local dir="$1"
  shift
  bounded "$BUILD_TIMEOUT" cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
  bounded "$BUILD_TIMEOUT" cmake --build "$dir" -j"$JOBS"
}

run_ctest() {
  bounded "$CTEST_TIMEOUT" ctest --test-dir "$1" --output-on-failure -j"$JOBS" \
    --timeout "$TEST_TIMEOUT"
}

echo "tessera test: quick=$QUICK soak=$SOAK root=$ROOT"

# 1. packages
step "setup: Debian packages"
bounded "$SETUP_TIMEOUT" scripts/setup.sh
step_done

# 2. plain build
step "plain build (build/)"
configure_and_build build
step_done

step "plain tests (build/)"
run_ctest build
step_done

if [[ $QUICK -eq 0 ]]; then
  # 3. sanitizers
  step "sanitizer build (build-asan/)"
  configure_and_build build-asan -DTESSERA_SANITIZE=ON -DTESSERA_BENCH=OFF -DTESSERA_SIM_SEEDS=400
  step_done

  step "sanitizer tests (build-asan/)"
  (
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    run_ctest build-asan
  )
  step_done

  # 4. fuzzing
  step "fuzz build (build-fuzz/, clang): $FUZZERS"
  read -r -a fuzz_targets <<<"$FUZZERS"
  if [[ ${#fuzz_targets[@]} -eq 0 ]]; then
    echo "test.sh: TESSERA_FUZZERS is empty" >&2
    exit 2
  fi
  bounded "$BUILD_TIMEOUT" cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DTESSERA_FUZZ=ON -DTESSERA_BENCH=OFF
  bounded "$BUILD_TIMEOUT" cmake --build build-fuzz -j"$JOBS" --target "${fuzz_targets[@]}"
  step_done

  for name in "${fuzz_targets[@]}"; do
    step "fuzz run: $name (${FUZZ_SECONDS}s)"
    bin="build-fuzz/bin/$name"
    if [[ ! -x "$bin" ]]; then
      echo "test.sh: fuzzer binary not found: $bin" >&2
      exit 1
    fi
    # Work on a scratch copy so the run never modifies the seed corpus in the repo.
    scratch="build-fuzz/fuzz-runs/$name"
    rm -rf "$scratch"
    mkdir -p "$scratch/corpus" "$scratch/artifacts"
    seed="tests/fuzz/corpus/$name"
    if [[ -d "$seed" ]]; then
      cp -R "$seed/." "$scratch/corpus/"
      echo "seed corpus: $seed ($(find "$scratch/corpus" -type f | wc -l) files)"
    else
      echo "seed corpus: none ($seed does not exist)"
    fi
    bounded "$((FUZZ_SECONDS + 300))" "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
      -rss_limit_mb=4096 -artifact_prefix="$scratch/artifacts/" "$scratch/corpus"
    step_done
  done
else
  echo
  echo "==> --quick: skipping sanitizer and fuzz steps"
fi

# 5. formatting
step "clang-format check"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  files=()
  while IFS= read -r -d '' f; do
    if [[ -f "$f" ]]; then files+=("$f"); fi
  done < <(git ls-files -z -- '*.h' '*.cc' '*.cpp')
  if [[ ${#files[@]} -eq 0 ]]; then
    echo "no tracked *.h *.cc *.cpp files; skipping"
  else
    echo "checking ${#files[@]} files"
    bounded 600 clang-format --dry-run --Werror "${files[@]}"
  fi
else
  echo "not a git work tree; skipping"
fi
step_done

echo
echo "==> all steps passed ($((SECONDS - START_ALL))s)"
