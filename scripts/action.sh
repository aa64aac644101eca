#!/usr/bin/env bash
# The script behind action.yml: install hpguard with `go install`, run `hpguard check` once, writing
# the report in the chosen format to a file and annotations for the workflow run to the log, and exit
# with hpguard's status. Runs anywhere bash and Go are.
#
# HPGUARD_PATHS: paths separated by spaces or newlines (no glob expansion).
# HPGUARD_ARGS: extra arguments, one per line, each passed as it is (no word splitting, no quotes
# needed): `--set` on one line and `rule.param=[a, b]` on the next, or `--set=rule.param=[a, b]`.
set -uo pipefail
set -f

paths=${HPGUARD_PATHS:-.}
profile=${HPGUARD_PROFILE:-}
format=${HPGUARD_FORMAT:-sarif}
output=${HPGUARD_OUTPUT:-hpguard.sarif}
fail_on=${HPGUARD_FAIL_ON:-}
version=${HPGUARD_VERSION:-local}
source_dir=${HPGUARD_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
bin_dir=${HPGUARD_BIN:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/hpguard-bin}

finish() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "exit-code=$1" >> "$GITHUB_OUTPUT"
  fi
  exit "$1"
}

mkdir -p "$bin_dir"
if [ "$version" = "local" ]; then
  (cd "$source_dir" && GOBIN="$bin_dir" go install ./cmd/hpguard) || finish 2
else
  GOBIN="$bin_dir" go install "github.com/hpguard/hpguard/cmd/hpguard@$version" || finish 2
fi
hpguard="$bin_dir/hpguard"

# --profile and --fail-on only when given: otherwise .hpguard.yaml (or hpguard's default) decides.
args=()
[ -n "$profile" ] && args+=(--profile "$profile")
[ -n "$fail_on" ] && args+=(--fail-on "$fail_on")
while IFS= read -r line; do
  line=${line%$'\r'}
  [ -n "${line//[[:space:]]/}" ] && args+=("$line")
done <<< "${HPGUARD_ARGS:-}"
read -r -d '' -a path_list <<< "$paths"

# A report left by an earlier step is not a result of this run: hpguard writes the new one only when
# the run completes (atomically), so remove the old one first.
rm -f -- "$output"
"$hpguard" check -o github --report "$format=$output" "${args[@]}" -- "${path_list[@]}"
code=$?
if [ -f "$output" ]; then
  echo "hpguard: wrote $format report to $output (exit $code)"
else
  echo "hpguard: no $format report written (exit $code)"
fi
finish "$code"
