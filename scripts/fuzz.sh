#!/usr/bin/env bash
# Runs the cargo-fuzz targets of the native core one after another.
#
#   scripts/fuzz.sh [seconds-per-target (default 60)] [target...]
#
# Targets default to every target in native/fuzz (line_protocol, msgpack).
# Environment:
#   FUZZ_SANITIZER  address (default, cargo-fuzz's default) or none (about 4x more execs/s)
#   FUZZ_ARGS       extra libFuzzer arguments, e.g. "-max_len=65536"
#
# Stable Rust is enough: RUSTC_BOOTSTRAP=1 lets it take the -Z flags
# cargo-fuzz passes (see docs/fuzzing.md). The corpus grows in
# native/fuzz/corpus/<target>/ (git-ignored), seeded from native/fuzz/seeds/<target>/;
# crashes land in native/fuzz/artifacts/<target>/, logs in native/fuzz/logs/.
# Exits 1 when a target crashed, failed an invariant or did not run.
set -euo pipefail

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [seconds-per-target] [target...]" >&2
  exit 2
fi
shift || true

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
native="$root/native"
fuzz="$native/fuzz"
sanitizer="${FUZZ_SANITIZER:-address}"
read -r -a extra <<<"${FUZZ_ARGS:-}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz (cargo install cargo-fuzz)"
  cargo install cargo-fuzz
fi

# cargo-fuzz passes -Zsanitizer=... and other -Z flags, which stable rustc only
# takes with RUSTC_BOOTSTRAP=1.
export RUSTC_BOOTSTRAP=1
# Cargo caches rustc's target-info probe in target/.rustc_info.json without
# keying it on RUSTC_BOOTSTRAP: one run without it leaves a failed probe there
# and every later build fails with "the option `Z` is only accepted on the
# nightly compiler". The file is only a cache, so drop a poisoned one.
info="$fuzz/target/.rustc_info.json"
if [ -f "$info" ] && grep -q '"success":false' "$info"; then
  rm -f "$info"
fi

cd "$native"
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${targets[*]} (sanitizer $sanitizer)"
for t in "${targets[@]}"; do
  cargo fuzz build -s "$sanitizer" "$t"
done

mkdir -p "$fuzz/logs"
status=0
summary=()
for t in "${targets[@]}"; do
  corpus="$fuzz/corpus/$t"
  artifacts="$fuzz/artifacts/$t"
  log="$fuzz/logs/$t.log"
  mkdir -p "$corpus" "$artifacts"
  seeds=()
  if [ -d "$fuzz/seeds/$t" ]; then
    seeds=("$fuzz/seeds/$t")
  fi
  dict=()
  if [ -f "$fuzz/dicts/$t.dict" ]; then
    dict=("-dict=$fuzz/dicts/$t.dict")
  fi
  before="$(mktemp)"
  ls -1 "$artifacts" | sort >"$before"
  echo "== $t: ${seconds}s, log $log"
  set +e
  cargo fuzz run -s "$sanitizer" "$t" "$corpus" "${seeds[@]}" -- \
    -max_total_time="$seconds" -timeout=30 -print_final_stats=1 "${dict[@]}" "${extra[@]}" >"$log" 2>&1
  rc=$?
  set -e
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  if [ -z "$execs" ]; then
    # No final stats (killed early): take the last status line "#N ...".
    execs="$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#' || true)"
  fi
  files="$(find "$corpus" -type f | wc -l)"
  new="$(comm -13 "$before" <(ls -1 "$artifacts" | sort))"
  rm -f "$before"
  echo "   exit $rc, executions ${execs:-?}, exec/s ${rate:-?}, corpus $files files"
  if [ -n "$new" ]; then
    echo "   NEW crash files:"
    sed "s|^|     $artifacts/|" <<<"$new"
    grep -m1 -E "panicked at|ERROR: (libFuzzer|AddressSanitizer)" "$log" | sed 's/^/     /' || true
  fi
  old="$(ls -1 "$artifacts" | wc -l)"
  if [ "$old" -gt 0 ]; then
    echo "   $old file(s) in $artifacts in all"
  fi
  verdict="exit $rc"
  if [ -n "$new" ]; then
    verdict="$verdict, NEW CRASH"
  fi
  if [ "$rc" -ne 0 ] || [ -n "$new" ]; then
    status=1
    echo "   FAILED: see $log"
    grep -m1 -A1 "panicked at" "$log" | sed 's/^/     /' || true
    grep -m1 -E "^SUMMARY|^==[0-9]+== ERROR" "$log" | sed 's/^/     /' || true
    # cargo-fuzz's own advice (failing input, reproduce and tmin commands; run them from native/ with RUSTC_BOOTSTRAP=1)
    sed -n '/^Failing input:/,/^Error: /p' "$log" | grep -v '^$' | sed 's/^/     /' || true
    if ! grep -q '^Failing input:' "$log"; then
      tail -n 15 "$log" | sed 's/^/     /'
    fi
  fi
  summary+=("$t: ${execs:-?} executions in ${seconds}s (${rate:-?}/s), corpus $files, $verdict")
done

echo "== summary"
printf '   %s\n' "${summary[@]}"
exit "$status"
