#!/usr/bin/env bash
# Lints every migrations/*/up.sql with squawk (installed when missing).
#
# A finding fails unless the statement carries an exemption with a reason,
# on the line before the statement or the line squawk points at:
#
#     -- squawk-ignore <rule>[, <rule>...] -- <why this is safe here>
#
# squawk reads the rules and ignores the text after the second `--`; this
# script refuses an exemption without that reason, and refuses file-wide
# (`squawk-ignore-file`) and rule-less exemptions. .squawk.toml holds the
# settings and the only project-wide exclusions, each with its reason.
set -euo pipefail

SQUAWK_VERSION="2.70.0"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

install_squawk() {
    if command -v squawk >/dev/null 2>&1 && [[ "$(squawk --version)" == "squawk $SQUAWK_VERSION" ]]; then
        return
    fi
    echo "installing squawk-cli $SQUAWK_VERSION" >&2
    # The PyPI wheel carries the binary; the npm package downloads it at
    # install time, so it is only the fallback.
    if command -v python3 >/dev/null 2>&1 &&
        python3 -m pip install --quiet --disable-pip-version-check "squawk-cli==$SQUAWK_VERSION"; then
        :
    elif command -v npm >/dev/null 2>&1 &&
        npm install --global --silent "squawk-cli@$SQUAWK_VERSION"; then
        :
    else
        echo "error: could not install squawk-cli $SQUAWK_VERSION with pip or npm" >&2
        exit 1
    fi
    hash -r
    if ! command -v squawk >/dev/null 2>&1; then
        echo "error: squawk-cli was installed but squawk is not on PATH" >&2
        exit 1
    fi
}

shopt -s nullglob
files=(migrations/*/up.sql)
if ((${#files[@]} == 0)); then
    echo "no migrations to lint"
    exit 0
fi

failed=0
exemption='^[[:space:]]*--[[:space:]]*squawk-ignore[[:space:]]+[a-z0-9-]+([[:space:]]*,[[:space:]]*[a-z0-9-]+)*[[:space:]]+--[[:space:]]*[^[:space:]]'
for file in "${files[@]}"; do
    while IFS=: read -r line text; do
        if [[ "$text" == *squawk-ignore-file* ]]; then
            echo "$file:$line: file-wide exemptions are not allowed; exempt each statement with its reason" >&2
            failed=1
        elif ! [[ "$text" =~ $exemption ]]; then
            echo "$file:$line: an exemption must read \`-- squawk-ignore <rule>[, <rule>...] -- <reason>\`" >&2
            failed=1
        fi
    done < <(grep -n 'squawk-ignore' "$file" || true)
done

install_squawk
for file in "${files[@]}"; do
    transaction=--assume-in-transaction
    metadata="$(dirname "$file")/metadata.toml"
    if [[ -f "$metadata" ]] && grep -Eq '^[[:space:]]*run_in_transaction[[:space:]]*=[[:space:]]*false' "$metadata"; then
        transaction=--no-assume-in-transaction
    fi
    if ! squawk --config .squawk.toml --reporter gcc "$transaction" "$file"; then
        failed=1
    fi
done

# Statements that lock a table while they rewrite or scan it (README,
# "Lint"): squawk sees most of them; mv-admin's own check is the one
# `mv-admin migrate` warns with, so the two never disagree about a file.
if ! cargo run -q -p mv-admin -- migrate lint --migrations-dir migrations; then
    failed=1
fi

if ((failed)); then
    echo "migration lint failed: fix the findings above, or exempt the statement with its reason" >&2
    exit 1
fi
echo "migration lint passed: ${#files[@]} file(s)"
