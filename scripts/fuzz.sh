#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer): builds every target in fuzz/ once, seeds the corpora
# from the repository's files, then runs the targets one after the other and prints per target
#   <target>: executions N, exec/s X, crashes C
# exiting non-zero if any target crashed (or timed out, or ran out of memory).
#
#   scripts/fuzz.sh [options] [target...]      (default: every target)
#     --seconds N      fuzz each target for N seconds (default 60)
#     --runs N         fuzz each target for N executions instead
#     --ci             short runs (15 s per target) after replaying fuzz/regressions/
#     --regressions    replay fuzz/regressions/<target>/* first, each once (on in --ci)
#     --fork N         libFuzzer -fork=N (N processes); off by default
#     --sanitizer S    address or none (default: address if it builds, see fuzz/README.md);
#                      each has its own build, fuzz/target/<sanitizer>/
#     --no-build       use the targets already built
#     --seed-only      build nothing, run nothing: write the seed corpora and stop
#     --list           print the targets and stop
#
# Corpora: fuzz/corpus/<target> (grows, kept between runs, not in git) and
# fuzz/seeds/<target> (written by this script from fixtures/, ../shared/, inline examples and
# tarballs made with tar). Crashes land in fuzz/artifacts/<target>/; save a reproducer under
# fuzz/regressions/<target>/ and it is replayed by --ci. Reproduce one with
#   fuzz/target/address/x86_64-unknown-linux-gnu/release/<target> fuzz/regressions/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FUZZ=$ROOT/fuzz

TARGETS_ALL=(kdl_registry kdl_fleet chatops webhook tarball plan)
SECONDS_EACH=60
RUNS=""
FORK=""
SANITIZER=""
BUILD=1
SEED_ONLY=0
REGRESSIONS=0
TARGETS=()

die() { echo "fuzz.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_EACH=${2:?}; RUNS=""; shift 2 ;;
    --runs) RUNS=${2:?}; shift 2 ;;
    --ci) SECONDS_EACH=15; RUNS=""; REGRESSIONS=1; shift ;;
    --regressions) REGRESSIONS=1; shift ;;
    --fork|--jobs) FORK=${2:?}; shift 2 ;;
    --sanitizer) SANITIZER=${2:?}; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --seed-only) SEED_ONLY=1; BUILD=0; shift ;;
    --list) printf '%s\n' "${TARGETS_ALL[@]}"; exit 0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [[ " ${TARGETS_ALL[*]} " == *" $1 "* ]] || die "unknown target $1"; TARGETS+=("$1"); shift ;;
  esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${TARGETS_ALL[@]}")

# ---------------------------------------------------------------- toolchain and cargo-fuzz
# libFuzzer instrumentation needs unstable rustc flags: a nightly toolchain when there is one,
# else the stable one with RUSTC_BOOTSTRAP=1 (no toolchain can be downloaded on our machines).
# FUZZ_TOOLCHAIN=stable forces the fallback (to test it).
if [ "${FUZZ_TOOLCHAIN:-}" != stable ] && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  CARGO=(cargo +nightly)
else
  export RUSTC_BOOTSTRAP=1
  CARGO=(cargo)
fi
if [ "$BUILD" = 1 ] && ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
bin_dir() { echo "$FUZZ/target/$1/$TRIPLE/release"; } # one target dir per sanitizer: both stay built

build() { # sanitizer
  # -O -a: optimized, with debug assertions and overflow checks.
  (cd "$ROOT" && "${CARGO[@]}" fuzz build -O -a --sanitizer "$1" --target-dir "$FUZZ/target/$1")
}

if [ "$BUILD" = 1 ]; then
  if [ -z "$SANITIZER" ]; then
    # AddressSanitizer by default: it reports a stack overflow (deep recursion) with the input
    # that caused it, where without it the process just dies of SIGSEGV. See fuzz/README.md.
    if build address; then SANITIZER=address; else
      echo "fuzz.sh: the AddressSanitizer build failed; building without a sanitizer" >&2
      SANITIZER=none
      build none
    fi
  else
    build "$SANITIZER"
  fi
elif [ -z "$SANITIZER" ]; then
  SANITIZER=address
  [ -x "$(bin_dir address)/${TARGETS[0]}" ] || SANITIZER=none
fi
BIN=$(bin_dir "$SANITIZER")

# ---------------------------------------------------------------- seed corpora
SHARED=$ROOT/../shared
pick() { # the first existing directory of the arguments
  for d in "$@"; do [ -d "$d" ] && { echo "$d"; return; }; done
  echo ""
}
SEED_EXAMPLES=$(pick "$SHARED/seed-examples" "$ROOT/fixtures/seed-examples")
EXTERNAL=$(pick "$SHARED/fixtures-external" "$ROOT/fixtures/external")

seed_kdl() { # target: every KDL file we have
  local out=$FUZZ/seeds/$1 f
  cp "$ROOT/fixtures/fleet-registry.kdl" "$out/fixture-registry.kdl"
  for f in "$ROOT"/fixtures/fleets/*/.fleetflow/fleet.kdl; do
    cp "$f" "$out/fixture-fleet-$(basename "$(dirname "$(dirname "$f")")").kdl"
  done
  [ -z "$SEED_EXAMPLES" ] || for f in "$SEED_EXAMPLES"/*.kdl; do cp "$f" "$out/example-$(basename "$f")"; done
  if [ -n "$EXTERNAL" ]; then
    for v in v1 v2; do
      for f in "$EXTERNAL"/kdl-spec-tests/$v/input/*.kdl; do cp "$f" "$out/spec-$v-$(basename "$f")"; done
    done
  fi
}

seed_plan() { # pairs base NUL head
  local out=$FUZZ/seeds/plan a b fleets=("$ROOT"/fixtures/fleets/*/.fleetflow/fleet.kdl)
  local reg=$ROOT/fixtures/fleet-registry.kdl
  { cat "$reg"; printf '\0'; cat "$reg"; } >"$out/registry-same"
  { cat "$reg"; printf '\0'; sed -e '/route fleet="jobs"/d' -e 's/ssh-port 2222/ssh-port 2223/' "$reg"; } \
    >"$out/registry-changed"
  { printf '\0'; cat "$reg"; } >"$out/registry-from-nothing"
  for a in "${fleets[@]}"; do
    for b in "${fleets[@]}"; do
      { cat "$a"; printf '\0'; cat "$b"; } >"$out/fleets-$(basename "$(dirname "$(dirname "$a")")")-$(basename "$(dirname "$(dirname "$b")")")"
    done
  done
  if [ -n "$SEED_EXAMPLES" ]; then
    local prev=""
    for a in "$SEED_EXAMPLES"/*.kdl; do
      { cat "$a"; printf '\0'; cat "${prev:-$a}"; } >"$out/examples-$(basename "$a" .kdl)"
      prev=$a
    done
  fi
}

seed_chatops() {
  local out=$FUZZ/seeds/chatops
  printf '/deploy web live' >"$out/deploy-fleet-stage"
  printf '/deploy api live --force\n' >"$out/deploy-force"
  printf 'Looks good!\n\n/deploy live\n' >"$out/deploy-stage"
  printf '/deploy jobs\r\nthanks' >"$out/deploy-fleet-crlf"
  printf '/plan\n' >"$out/plan"
  printf '/help' >"$out/help"
  printf '/deplyo web live' >"$out/typo"
  printf '/deploy web staging' >"$out/no-route"
  printf '/deploy live-docs' >"$out/ambiguous"
  printf '   /deploy web live\n    /deploy api live\n' >"$out/indents"
  printf '```\n/deploy web live\n```\n/plan\n' >"$out/backtick-fence"
  printf '~~~ sh\n/deploy web live\n~~~\n' >"$out/tilde-fence"
  printf '> /deploy web live\n\nquoted, not a command\n' >"$out/quote"
  printf '<!-- /deploy web live -->\nan HTML comment first\n' >"$out/html-comment"
  printf 'run `/deploy web live` when ready\n' >"$out/inline-code"
  printf '// /deploy web live\n/DEPLOY Web LIVE\n' >"$out/double-slash"
  printf '\xef\xbb\xbf/deploy\tweb\u3000live\n' >"$out/unicode-space"
  printf '/deploy web live extra words here\n' >"$out/too-many"
}

seed_webhook() { # selector byte (index in the target's EVENTS) + a real payload
  local out=$FUZZ/seeds/webhook dir f i events=(push pull_request issue_comment ping installation check_run
    installation_repositories)
  [ -n "$EXTERNAL" ] || return 0
  for dir in "$EXTERNAL"/webhooks/*/; do
    local name i=7 # any event we do not know
    name=$(basename "$dir")
    for j in "${!events[@]}"; do [ "${events[$j]}" = "$name" ] && i=$j; done
    for f in "$dir"*.json; do
      { printf "\\x$(printf %02x "$i")"; cat "$f"; } >"$out/$name-$(basename "$f" .json)"
    done
  done
  printf '\x03{}' >"$out/ping-empty"
  printf '\x01{"action":"closed","pull_request":{"number":1,"head":{"sha":"a"},"base":{"sha":"b"},"merged":true},"repository":{"name":"r","owner":{"login":"o"}},"installation":{"id":1}}' \
    >"$out/pull-request-merged"
}

seed_tarball() { # uncompressed tar streams with a top directory, as GitHub's tarballs have
  local out=$FUZZ/seeds/tarball work
  work=$(mktemp -d)
  (
    cd "$work"
    top=octo-repo-0123abc
    mkdir -p "$top/fleets/web/.fleetflow" "$top/empty-dir" "$top/a/b/c"
    cp "$ROOT/fixtures/fleet-registry.kdl" "$top/"
    cp "$ROOT/fixtures/fleets/web/.fleetflow/fleet.kdl" "$top/fleets/web/.fleetflow/"
    printf 'FROM busybox\n' >"$top/fleets/web/Dockerfile"
    : >"$top/empty"
    ln -s fleet-registry.kdl "$top/link-to-file"
    ln -s fleets/web "$top/link-to-dir"
    ln -s ../.. "$top/a/b/up-to-top"
    ln -s c/missing "$top/a/b/dangling"
    ln "$top/fleets/web/Dockerfile" "$top/hard-link"
    touch "$top/$(printf 'n%.0s' {1..120})"
    tar -b1 --format=gnu -cf "$out/gnu.tar" "$top"
    tar -b1 --format=pax -cf "$out/pax.tar" "$top"
    tar -b1 --format=ustar -cf "$out/ustar.tar" "$top/fleet-registry.kdl" "$top/link-to-dir" "$top/a"
    tar -b1 --format=v7 -cf "$out/v7.tar" "$top/fleets" "$top/hard-link"
    printf data >"$top/sparse" && truncate -s 1M "$top/sparse" && printf end >>"$top/sparse"
    tar -b1 --format=gnu --sparse -cf "$out/gnu-sparse.tar" "$top/sparse" "$top/empty"
    tar -b1 --format=pax --sparse -cf "$out/pax-sparse.tar" "$top/sparse"
    ln -s ../../etc "$top/escape"
    tar -b1 --format=gnu -cf "$out/escaping-link.tar" "$top/escape" "$top/link-to-file"
    mkdir other && printf x >other/file
    tar -b1 --format=gnu -cf "$out/two-tops.tar" "$top/empty" other
  )
  rm -rf "$work"
}

seed() {
  local t
  for t in "${TARGETS[@]}"; do
    rm -rf "$FUZZ/seeds/$t"
    mkdir -p "$FUZZ/seeds/$t" "$FUZZ/corpus/$t" "$FUZZ/artifacts/$t"
    case $t in
      kdl_registry|kdl_fleet) seed_kdl "$t" ;;
      plan) seed_plan ;;
      chatops) seed_chatops ;;
      webhook) seed_webhook ;;
      tarball) seed_tarball ;;
    esac
  done
}
seed
[ "$SEED_ONLY" = 0 ] || { echo "fuzz.sh: seeds written to fuzz/seeds/"; exit 0; }

# ---------------------------------------------------------------- runs
crashed=0
report() { # target log: the lines that say what crashed
  echo "  log: ${2#"$ROOT"/}"
  { grep -E '^Running: ' "$2" | tail -1
    grep -E -A1 'panicked at' "$2" | head -2
    grep -E 'Test unit written to|^SUMMARY|ERROR: (AddressSanitizer|libFuzzer)' "$2" | head -3
  } | sed 's/^/  /' || true
}
# What a tarball run that crashed left in /dev/shm (fleet-fuzz-<pid> of a process now gone).
clean_shm() {
  local d
  for d in /dev/shm/fleet-fuzz-*; do
    [ -d "$d" ] && ! kill -0 "${d##*-}" 2>/dev/null && rm -rf "$d"
  done
  return 0
}
for t in "${TARGETS[@]}"; do
  [ -x "$BIN/$t" ] || die "$BIN/$t is not built (run without --no-build)"
  flags=(-rss_limit_mb=2048 -timeout=20 "-artifact_prefix=$FUZZ/artifacts/$t/")
  case $t in
    # These load KDL: the v1 fallback parses on a thread of its own, still freeing when a run
    # ends, so LeakSanitizer would scan the heap after nearly every run (3x slower).
    kdl_registry|kdl_fleet|plan) flags+=("-dict=$FUZZ/dict/kdl.dict" -detect_leaks=0) ;;
  esac
  log=$FUZZ/artifacts/$t/last-run.log
  clean_shm
  # Saved reproducers first, each run once (as corpus they would raise -max_len for the run).
  if [ "$REGRESSIONS" = 1 ] && compgen -G "$FUZZ/regressions/$t/*" >/dev/null; then
    if ! "$BIN/$t" "${flags[@]}" "$FUZZ/regressions/$t"/* >"$log" 2>&1; then
      echo "$t: a saved reproducer still fails (fuzz/regressions/$t), crashes 1"
      report "$t" "$log"
      crashed=1
      continue
    fi
  fi
  flags+=(-print_final_stats=1)
  if [ -n "$RUNS" ]; then flags+=("-runs=$RUNS"); else flags+=("-max_total_time=$SECONDS_EACH"); fi
  [ -z "$FORK" ] || flags+=("-fork=$FORK")
  set +e
  "$BIN/$t" "${flags[@]}" "$FUZZ/corpus/$t" "$FUZZ/seeds/$t" >"$log" 2>&1
  rc=$?
  set -e
  if [ -n "$FORK" ]; then
    # The fork-mode parent's status lines: #N: cov: … exec/s: X oom/timeout/crash: a/b/c …
    last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1)
    execs=$(sed -nE 's/^#([0-9]+):.*/\1/p' <<<"$last")
    rate=$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$last")
    crashes=$(sed -nE 's/.*oom\/timeout\/crash: ([0-9]+)\/([0-9]+)\/([0-9]+).*/\1 \2 \3/p' <<<"$last" |
      awk '{print $1+$2+$3}')
  else
    execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
    rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -1)
    crashes=$(grep -cE 'Test unit written to .*/(crash|timeout|oom|leak)-' "$log" || true)
  fi
  # Killed without a word (e.g. SIGSEGV of a stack overflow without ASan): still a crash.
  if [ "$rc" != 0 ] && [ "${crashes:-0}" = 0 ]; then crashes=1; fi
  echo "$t: executions ${execs:-?}, exec/s ${rate:-?}, crashes ${crashes:-0}"
  if [ "${crashes:-0}" != 0 ]; then
    crashed=1
    report "$t" "$log"
  fi
done
clean_shm
exit $crashed
