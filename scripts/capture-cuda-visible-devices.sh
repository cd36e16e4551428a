#!/usr/bin/env bash
# Records which GPUs a process sees under each form of CUDA_VISIBLE_DEVICES on a real NVIDIA box (no Ollama needed):
# unset, an index, a UUID, -1, an unknown UUID, and an index inside a UUID-pinned process (what Ollama 0.30+'s discovery
# validation does: it overwrites CUDA_VISIBLE_DEVICES with the device's ordinal, which the child reads against the
# host's GPUs). Also runs scripts/capture-nvidia-smi.sh into the same folder. Needs bash, nvidia-smi, python3 and the
# driver's libcuda.so.1 (no CUDA toolkit). Usage: scripts/capture-cuda-visible-devices.sh [output-dir] (default: $OUT)
set -u
out="${1:-${OUT:-}}"
if [ -z "$out" ]; then
	echo "usage: $0 <output-dir>   (or set OUT)" >&2
	exit 2
fi
mkdir -p "$out"
"$(dirname "$0")/capture-nvidia-smi.sh" "$out/nvidia-smi" >/dev/null 2>&1

probe='
import ctypes, json, os, sys
try:
    cuda = ctypes.CDLL("libcuda.so.1")
except OSError as error:
    print(json.dumps({"error": str(error)})); sys.exit(0)
result = {"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"), "init": cuda.cuInit(0)}
count = ctypes.c_int(0)
result["count_rc"] = cuda.cuDeviceGetCount(ctypes.byref(count))
devices = []
for ordinal in range(count.value):
    device = ctypes.c_int(0)
    cuda.cuDeviceGet(ctypes.byref(device), ordinal)
    name = ctypes.create_string_buffer(256)
    cuda.cuDeviceGetName(name, 256, device)
    uuid = (ctypes.c_ubyte * 16)()
    cuda.cuDeviceGetUuid(uuid, device)
    raw = bytes(uuid).hex()
    devices.append({"ordinal": ordinal, "name": name.value.decode(), "uuid": "GPU-%s-%s-%s-%s-%s" % (raw[:8], raw[8:12], raw[12:16], raw[16:20], raw[20:])})
result["devices"] = devices
print(json.dumps(result))
'
uuids=$(nvidia-smi --query-gpu=uuid --format=csv,noheader 2>/dev/null)
first=$(echo "$uuids" | sed -n 1p)
second=$(echo "$uuids" | sed -n 2p)
: >"$out/cuda-visible-devices.jsonl"
run() {
	if [ "$1" = "<unset>" ]; then
		env -u CUDA_VISIBLE_DEVICES python3 -c "$probe" >>"$out/cuda-visible-devices.jsonl" 2>>"$out/cuda-visible-devices.stderr"
	else
		CUDA_VISIBLE_DEVICES="$1" python3 -c "$probe" >>"$out/cuda-visible-devices.jsonl" 2>>"$out/cuda-visible-devices.stderr"
	fi
}

for value in "<unset>" 0 "$first" -1 GPU-00000000-0000-0000-0000-000000000000 ""; do
	run "$value"
done

if [ -n "$second" ]; then
	for value in 1 "$second" "$second,$first"; do
		run "$value"
	done
	# A process pinned to the second GPU starts a child with CUDA_VISIBLE_DEVICES=0 (its device's ordinal): which GPU is that?
	CUDA_VISIBLE_DEVICES="$second" bash -c "CUDA_VISIBLE_DEVICES=0 python3 -c '$probe'" >>"$out/cuda-visible-devices.jsonl" 2>>"$out/cuda-visible-devices.stderr"
fi

[ -s "$out/cuda-visible-devices.stderr" ] || rm -f "$out/cuda-visible-devices.stderr"
echo "wrote $out/cuda-visible-devices.jsonl ($(wc -l <"$out/cuda-visible-devices.jsonl") probes)"
