#!/usr/bin/env bash
# The script behind action.yml: install hpguard with `go install`, write the report in the chosen
# format, annotate the workflow run, and exit with hpguard's status. Runs anywhere bash and Go are.
set -uo pipefail

paths=${HPGUARD_PATHS:-.}
profile=${HPGUARD_PROFILE:-hostprocess}
format=${HPGUARD_FORMAT:-sarif}
output=${HPGUARD_OUTPUT:-hpguard.sarif}
fail_on=${HPGUARD_FAIL_ON:-deny}
version=${HPGUARD_VERSION:-local}
source_dir=${HPGUARD_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
bin_dir=${HPGUARD_BIN:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/hpguard-bin}

mkdir -p "$bin_dir"
if [ "$version" = "local" ]; then
  (cd "$source_dir" && GOBIN="$bin_dir" go install ./cmd/hpguard) || exit 2
else
  GOBIN="$bin_dir" go install "github.com/hpguard/hpguard/cmd/hpguard@$version" || exit 2
fi
hpguard="$bin_dir/hpguard"

# shellcheck disable=SC2086 # paths and args are word lists by design
"$hpguard" check --profile "$profile" --fail-on "$fail_on" -o "$format" ${HPGUARD_ARGS:-} $paths > "$output"
code=$?
# Annotations for the run (and a readable log), whatever the report format.
# shellcheck disable=SC2086
"$hpguard" check --profile "$profile" --fail-on "$fail_on" -o github ${HPGUARD_ARGS:-} $paths || true
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "exit-code=$code" >> "$GITHUB_OUTPUT"
fi
echo "hpguard: wrote $format report to $output (exit $code)"
exit "$code"
