#!/usr/bin/env bash
# Lints every CloudFormation/SAM template under infra/ with cfn-lint and checkov (both from PyPI, in
# their own venv so they never clash with other Python tools), then runs check_templates.py for
# what neither can see. Exits non-zero on any error, failed check or problem.
# Usage: bash tests/infra/lint.sh        (VENV=path to use another venv location)
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=${VENV:-.venv-infra}
# Versions the templates were validated with; newer releases add checks, so bump on purpose.
CFN_LINT_VERSION=1.58.0
CHECKOV_VERSION=3.3.30

if [ ! -x "$VENV/bin/cfn-lint" ] || [ ! -x "$VENV/bin/checkov" ]; then
  python3 -m venv "$VENV"
  # The venv ignores itself, so it never shows up in git status wherever it is created.
  echo '*' > "$VENV/.gitignore"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q "cfn-lint==$CFN_LINT_VERSION" "checkov==$CHECKOV_VERSION"
fi

templates=(infra/*.yaml)
echo "lint-infra: ${#templates[@]} templates: ${templates[*]}"

"$VENV/bin/cfn-lint" --format parseable "${templates[@]}"
echo "cfn-lint: 0 errors"

# --skip-download: no calls to the vendor's platform (CI has no network for it, and the result
# must not depend on it). --quiet prints failed checks only.
for t in "${templates[@]}"; do
  "$VENV/bin/checkov" --file "$t" --framework cloudformation --skip-download --quiet --compact
done
echo "checkov: 0 failed checks"

"$VENV/bin/python" tests/infra/check_templates.py
