#!/usr/bin/env bash
# Runs the libFuzzer targets built in <build-dir>/fuzz (make fuzz; docs/development.md "Fuzzing").
#   fuzz/run.sh <build-dir> <seconds> [target ...]     (default: every target in fuzz/corpus/)
# FUZZ_JOBS=N runs N targets at a time (default: the number of CPUs; each target is one process).
# For each target: every input of fuzz/regressions/<target>/ is replayed once, then the target
# fuzzes for <seconds> starting from fuzz/corpus/<target>/ (new inputs go to
# <build-dir>/fuzz-work/<target>/corpus, never into the source tree). A finding (crash, sanitizer
# report, invariant failure, timeout, out-of-memory) fails the run, with its input saved under
# <build-dir>/fuzz-work/<target>/ — unless fuzz/known-open.txt lists it: known findings whose fix
# is not merged yet are reported and fuzzing goes on. Prints execs/s per target at the end.
set -uo pipefail

src_dir="$(cd "$(dirname "$0")/.." && pwd)"
build_dir="${1:?usage: fuzz/run.sh <build-dir> <seconds> [target ...]}"
seconds="${2:?usage: fuzz/run.sh <build-dir> <seconds> [target ...]}"
shift 2
build_dir="$(cd "$build_dir" && pwd)"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for d in "$src_dir"/fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi
known_open="$src_dir/fuzz/known-open.txt"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

dict_for() {
  case "$1" in
    extender_args | extender_bind | kube_objects | watch_stream) echo kube_json ;;
    prometheus_response) echo prometheus ;;
    config) echo config ;;
    *) echo scalars ;;
  esac
}

# The finding in a log as one line: "<first error line> @ <first kb:: frame>".
signature() {
  local err frame
  err=$(grep -m1 -E 'runtime error:|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|fuzz invariant failed|terminate called' "$1" |
    sed -E 's/^.*(runtime error:|ERROR: |fuzz invariant failed at [^ ]+ |terminate called)/\1/')
  frame=$(grep -m1 -E '^ *#[0-9]+ 0x[0-9a-f]+ in kb::' "$1" | sed -E 's/^.* in (kb::[^(]*).*$/\1/')
  echo "${err:-unknown failure} @ ${frame:-?}"
}

# Prints the known-open entry (fuzz/known-open.txt: "<target|*> <extended regex>") that matches
# the signature of target $1, if any.
known_entry() {
  local target="$1" sig="$2" t re
  [ -f "$known_open" ] || return 1
  while read -r t re; do
    case "$t" in '' | '#'*) continue ;; esac
    if [ "$t" = "*" ] || [ "$t" = "$target" ]; then
      if grep -qE -- "$re" <<<"$sig"; then
        echo "$t $re"
        return 0
      fi
    fi
  done <"$known_open"
  return 1
}

# Fuzzes one target; writes its summary line to $work/summary, each known-open entry it hit to
# $work/known-hits, and returns non-zero on a finding.
run_target() {
  local target="$1"
  local bin="$build_dir/fuzz/${target}_fuzzer"
  local work="$build_dir/fuzz-work/$target"
  rm -rf "$work" && mkdir -p "$work/corpus" "$work/findings"
  : >"$work/known-hits"
  if [ ! -x "$bin" ]; then
    echo "fuzz: $bin is missing (make fuzz-build)" >&2
    printf '%-22s MISSING\n' "$target" >"$work/summary"
    return 1
  fi
  local target_failed=0 input log sig entry

  # 1. Regression inputs, one process each so that each is judged on its own.
  for input in "$src_dir/fuzz/regressions/$target"/*; do
    [ -f "$input" ] || continue
    log="$work/regression-$(basename "$input").log"
    if "$bin" "$input" >"$log" 2>&1; then continue; fi
    sig=$(signature "$log")
    if entry=$(known_entry "$target" "$sig"); then
      echo "fuzz: $target: regression $(basename "$input"): known-open ($entry): $sig"
      echo "$entry" >>"$work/known-hits"
    else
      echo "fuzz: $target: regression $(basename "$input") FAILS: $sig (log: $log)" >&2
      grep -E -A30 'runtime error:|ERROR: |fuzz invariant failed|terminate called' "$log" |
        head -n 40 >&2
      target_failed=1
    fi
  done

  # 2. Fuzzing from the seeds for the time given; a known-open finding restarts the fuzzer for
  # the time left (its input is kept under findings/), anything else ends the target as failed.
  local dict="$src_dir/fuzz/dict/$(dict_for "$target").dict"
  local runs=0 start=$SECONDS round=0 left rc n
  while [ $target_failed -eq 0 ]; do
    left=$((seconds - (SECONDS - start)))
    [ $left -gt 0 ] || break
    round=$((round + 1))
    log="$work/fuzz-$round.log"
    "$bin" -max_total_time="$left" -timeout=10 -rss_limit_mb=2560 -print_final_stats=1 \
      -dict="$dict" -artifact_prefix="$work/findings/" "$work/corpus" \
      "$src_dir/fuzz/corpus/$target" >"$log" 2>&1
    rc=$?
    n=$(grep -m1 '^stat::number_of_executed_units:' "$log" | awk '{print $2}')
    if [ -z "$n" ]; then  # a crash prints no final stats: take the last status line
      n=$(grep -oE '^#[0-9]+' "$log" | tail -n1 | tr -d '#')
    fi
    runs=$((runs + ${n:-0}))
    [ $rc -eq 0 ] && break
    sig=$(signature "$log")
    if entry=$(known_entry "$target" "$sig"); then
      echo "fuzz: $target: known-open finding ($entry): $sig"
      echo "$entry" >>"$work/known-hits"
    else
      echo "fuzz: $target: FINDING: $sig" >&2
      echo "fuzz: $target: input and log: $work/findings/ $log" >&2
      grep -E -A30 'runtime error:|ERROR: |fuzz invariant failed|terminate called' "$log" |
        head -n 60 >&2
      target_failed=1
    fi
  done
  local elapsed=$((SECONDS - start))
  local new status=ok
  new=$(find "$work/corpus" -type f | wc -l)
  [ $target_failed -eq 0 ] || status=FAILED
  printf '%-22s %-7s %5ss %10s runs %8s execs/s %6s new inputs %3s restarts\n' "$target" \
    "$status" "$elapsed" "$runs" "$((runs / (elapsed > 0 ? elapsed : 1)))" "$new" \
    "$((round > 0 ? round - 1 : 0))" >"$work/summary"
  return $target_failed
}

jobs_max="${FUZZ_JOBS:-$(nproc)}"
pids=()
for target in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  run_target "$target" &
  pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done

echo "fuzz summary (${seconds}s per target, $jobs_max at a time):"
for target in "${targets[@]}"; do
  sed 's/^/  /' "$build_dir/fuzz-work/$target/summary" 2>/dev/null || echo "  $target: no summary"
done
if [ -f "$known_open" ]; then
  while read -r t re; do
    case "$t" in '' | '#'*) continue ;; esac
    if ! grep -sqxF -- "$t $re" "$build_dir"/fuzz-work/*/known-hits; then
      echo "fuzz: known-open entry \"$t $re\" was not hit in this run: if its fix is merged, delete it from fuzz/known-open.txt"
    fi
  done <"$known_open"
fi
exit $failed
