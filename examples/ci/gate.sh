#!/usr/bin/env bash
# fcbench's regression gate on a fresh CI runner, which has no leaderboard database: the
# baseline is a committed results folder and the candidate one fcbench eval has just written.
#
#   examples/ci/gate.sh BASELINE_RESULTS_DIR CANDIDATE_RESULTS_DIR [fcbench check options...]
#   examples/ci/gate.sh ci/baseline results-pr/candidate --max-drop 0.02 --metric exact_match
#
# It records both folders into a new database in a temporary folder (removed on exit), runs
# `fcbench check --json` on the two evaluations, writes check's JSON document to $GATE_JSON
# (default fcbench-gate.json), prints a short summary (and appends it to $GITHUB_STEP_SUMMARY
# where GitHub Actions sets it), and exits with check's status:
#   0  pass: no gated metric dropped significantly by more than --max-drop
#   1  regression: the summary and the JSON list every drop
#   2  cannot answer: a folder that cannot be recorded, different benchmark/prompt/scoring
#      versions, no shared items (the reason is one line on stderr; no JSON is written)
# $FCBENCH is the fcbench command (default: fcbench on PATH).
set -euo pipefail

usage="usage: $0 BASELINE_RESULTS_DIR CANDIDATE_RESULTS_DIR [fcbench check options...]"
if [ "$#" -lt 2 ]; then
    echo "$usage" >&2
    exit 2
fi
baseline_dir=$1
candidate_dir=$2
shift 2
fcbench=${FCBENCH:-fcbench}
gate_json=${GATE_JSON:-fcbench-gate.json}

# Any step of the gate's own that fails cannot answer: it must not read as 1, a regression.
trap 'echo "gate: cannot answer: the command on line $LINENO failed" >&2; exit 2' ERR
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db=$work/leaderboard.db

# The two are named by evaluation id, not by candidate name: a candidate retrained into the
# baseline's adapter folder has the baseline's name, and a name means its newest evaluation.
if ! "$fcbench" record --json --db "$db" "$baseline_dir" "$candidate_dir" >"$work/recorded.json"; then
    echo "gate: cannot answer: $baseline_dir and $candidate_dir could not both be recorded (see above)" >&2
    exit 2
fi
refs=$(python3 - "$work/recorded.json" <<'PY'
import json, sys
print(" ".join(f"#{ev['evaluation_id']}" for ev in json.load(open(sys.argv[1]))["recorded"]))
PY
)
read -r baseline_ref candidate_ref <<<"$refs"
if [ "$baseline_ref" = "$candidate_ref" ]; then
    echo "gate: cannot answer: $baseline_dir and $candidate_dir hold the same evaluation ($baseline_ref)" >&2
    exit 2
fi

rm -f "$gate_json"  # a document left by an earlier run must not pass for this one's
status=0
"$fcbench" check --db "$db" --baseline "$baseline_ref" --candidate "$candidate_ref" --json "$@" >"$work/check.json" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 1 ]; then
    echo "gate: cannot answer (fcbench check exited $status)" >&2
    exit 2
fi
cp "$work/check.json" "$gate_json"

# What a reviewer reads in the log and the step summary; every number is in $gate_json. A
# summary that cannot be written does not change the verdict.
python3 - "$gate_json" >"$work/summary.md" <<'PY' || echo "gate: no summary: $gate_json could not be read back" >&2
import json, sys

doc = json.load(open(sys.argv[1]))
a, b = doc["baseline"], doc["candidate"]


def points(x, sign="+"):
    return "n/a" if x is None else f"{100 * x:{sign}.1f}"


def p(x):
    return "n/a" if x is None else f"{x:.2g}"


print(f"**fcbench gate: {doc['verdict']}**: {b['candidate']} (#{b['evaluation_id']}) against the baseline {a['candidate']} "
      f"(#{a['evaluation_id']}) on {doc['shared']} shared items; max drop {100 * doc['max_drop']:.1f} points, "
      f"alpha {doc['alpha']}, Holm over {len(doc['tested'])} tests")
print()
print("| metric | group | n | baseline | candidate | points | 95 % CI | Holm p | MDD | gate |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
overall = [d for d in doc["tested"] if d["group"] == "overall"]
for d in overall + [d for d in doc["regressions"] if d["group"] != "overall"]:
    flag = "regressed" if d in doc["regressions"] else ""
    print(f"| {d['metric']} | {d['group']} | {d['n']} | {points(d['a_mean'], '')} | {points(d['b_mean'], '')} | {points(d['difference'])} "
          f"| [{points(d['low'])}, {points(d['high'])}] | {p(d['adjusted_p'])} | {points(d['mdd'], '')} | {flag} |")
PY
cat "$work/summary.md"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat "$work/summary.md" >>"$GITHUB_STEP_SUMMARY"
fi
exit "$status"
