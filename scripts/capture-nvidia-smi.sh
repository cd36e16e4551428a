#!/usr/bin/env bash
# Records what nvidia-smi prints on a real NVIDIA box, as fixtures for the GPU layer's tests
# (copy the folder to test/fixtures/nvidia-smi/real-device/<machine>/; the tests check every such folder).
# Needs only bash, coreutils and nvidia-smi. Usage: scripts/capture-nvidia-smi.sh [output-dir]   (default: $OUT)
# CAPTURE_LOOP_SECONDS / CAPTURE_SHORT_SECONDS shorten the looping captures (defaults 5 and 2).
set -u

out="${1:-${OUT:-}}"
if [ -z "$out" ]; then
	echo "usage: $0 <output-dir>   (or set OUT)" >&2
	exit 2
fi
mkdir -p "$out"
codes="$out/exit-codes.txt"
: >"$codes"

loop_seconds="${CAPTURE_LOOP_SECONDS:-5}"
short_seconds="${CAPTURE_SHORT_SECONDS:-2}"
query='index,uuid,memory.used,memory.total,utilization.gpu,temperature.gpu,power.draw,power.limit'

# capture <name> <stdout-file> <command...>: stdout and stderr kept apart, exit code and seconds noted.
capture() {
	local name="$1" file="$2"
	shift 2
	local started ended code
	started=$(date +%s.%N)
	"$@" >"$out/$file" 2>"$out/$name.stderr"
	code=$?
	ended=$(date +%s.%N)
	echo "$name=$code" >>"$codes"
	echo "$name $(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.3f", b - a }')s" >>"$out/timing.txt"
	[ -s "$out/$name.stderr" ] || rm -f "$out/$name.stderr"
}

: >"$out/timing.txt"
capture version version.txt nvidia-smi --version
capture list-gpus list-gpus.txt nvidia-smi -L
capture qx qx.xml nvidia-smi -q -x
capture table table.txt nvidia-smi
capture query-once query-once.csv nvidia-smi --query-gpu="$query" --format=csv,noheader,nounits
# timeout ends the loops (about one line per GPU per second); 124 in exit-codes.txt is that, not a failure.
capture query-nounits query-nounits.csv timeout -k 2 "$loop_seconds.5" nvidia-smi --query-gpu="$query" --format=csv,noheader,nounits -l 1
capture query-units query-units.csv timeout -k 2 "$short_seconds.5" nvidia-smi --query-gpu="$query" --format=csv -l 1
capture query-lms query-lms.csv timeout -k 2 "$short_seconds.2" nvidia-smi --query-gpu="$query" --format=csv,noheader,nounits -lms 500
capture help-query-gpu help-query-gpu.txt nvidia-smi --help-query-gpu

{
	echo "captured: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "kernel: $(uname -srm)"
	echo "host-gpus-from-L: $(grep -c '^GPU ' "$out/list-gpus.txt" 2>/dev/null || echo 0)"
} >"$out/about.txt"

echo "wrote $(ls "$out" | wc -l) files to $out"
cat "$codes"
