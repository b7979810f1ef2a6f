#!/bin/sh
# `make fuzz`: run every fuzz target for FUZZ_SECS seconds (default 60)
# and say what each found. Not part of `make test`: a fuzz run is open-ended
# by nature; what it finds is kept in regressions/ and replayed by
# `cargo test` instead.
#
#   FUZZ_SECS=600 make fuzz              longer
#   FUZZ_TARGETS="mail config" make fuzz some targets only
#
# Stable Rust, no sanitizer (`--sanitizer none`): AddressSanitizer needs a
# nightly rustc (-Zsanitizer), and the code fuzzed is safe Rust, where a
# bug shows as a panic (bounds, overflow: debug assertions are on), which
# libFuzzer catches without it. The grown corpus stays in corpus/TARGET
# (not committed); crash inputs land in artifacts/TARGET/.
set -eu
cd "$(dirname "$0")"

SECS=${FUZZ_SECS:-60}
TARGETS=${FUZZ_TARGETS:-"config mail prescreen state since"}
CARGO=${CARGO:-cargo}
# The version this was written against; newer ones change flags now and then.
CARGO_FUZZ_VERSION=0.13.2

if ! $CARGO fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io (about a minute)"
  $CARGO install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

echo "==> building the fuzz targets"
$CARGO fuzz build --sanitizer none

failed=0
report=""
for t in $TARGETS; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="artifacts/$t.log"
  dict=""
  [ -f "dict/$t.dict" ] && dict="-dict=dict/$t.dict"
  echo "==> fuzzing $t for $SECS s (log: fuzz/$log)"
  status=0
  # shellcheck disable=SC2086 # $dict is one word or none
  $CARGO fuzz run --sanitizer none "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$SECS" -timeout=10 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" $dict >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  found=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  if [ "$status" -eq 0 ]; then
    line=$(printf '%-10s %10s runs  nothing found' "$t" "${runs:-?}")
  else
    failed=1
    why=$(grep -m1 -E "panicked at|ERROR: libFuzzer|==ERROR" "$log" || true)
    line=$(printf '%-10s %10s runs  FOUND %s (%s)' "$t" "${runs:-?}" "${found:-see the log}" "$why")
  fi
  echo "$line"
  report="$report$line
"
done

echo "==> fuzz results, $SECS s per target:"
printf '%s' "$report"
if [ "$failed" -ne 0 ]; then
  echo "==> replay one: (cd fuzz && cargo fuzz run --sanitizer none TARGET FILE)"
  echo "==> then fix it and keep the input: cp FILE fuzz/regressions/TARGET/NAME (cargo test replays it)"
  exit 1
fi
