#!/usr/bin/env bash
# The GPU check on a lent GPU machine (no network, no Node): unpacks .gpu-check/ (made here by
# `npm run gpu-check:pack`), finds a Vulkan loader and driver, and runs check.mjs, then cuda.py.
# Device tool: run(command="bash scripts/gpu-check/run.sh", carry=[".gpu-check"], timeout_s=420).
# Results: $OUT/gpu-check.log and $OUT/gpu-check.json (or ./gpu-check-out without $OUT).
set -uo pipefail
cd "$(dirname "$0")/../.."
PACK=.gpu-check
WORK=/tmp/dype-gpu-check
RESULTS=${OUT:-$PWD/gpu-check-out}
mkdir -p "$WORK" "$RESULTS"
[ -f "$PACK/check.mjs" ] || { echo "no $PACK/check.mjs: run 'npm run gpu-check:pack' and carry $PACK"; exit 2; }

unxz_to() { # file.xz → stdout, with xz or, failing that, Python's lzma
  if command -v xz >/dev/null; then xz -dc "$1"; else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}

NODE=$(command -v node || true)
if [ -z "$NODE" ] || [ "$("$NODE" -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  unxz_to "$PACK/node.xz" >"$WORK/node" && chmod +x "$WORK/node" && NODE=$WORK/node
fi
unxz_to "$PACK/modules.tar.xz" | tar -x -C "$WORK"
cp "$PACK/check.mjs" "$WORK/"

# Dawn needs the Vulkan loader; the driver's folder may carry the ICD file without registering it.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
  deb=$(ls "$PACK"/libvulkan1_*.deb 2>/dev/null | head -1)
  if [ -n "$deb" ]; then dpkg -x "$deb" "$WORK/vulkan" && export LD_LIBRARY_PATH="$WORK/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
fi
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd; fi
done
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$WORK/xdg}; mkdir -p -m 700 "$XDG_RUNTIME_DIR"

{
  echo "node $("$NODE" -v); VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
  nvidia-smi -L 2>/dev/null || echo "nvidia-smi: none"
  "$NODE" "$WORK/check.mjs" "$RESULTS" "$WORK"
  status=$?
  python3 scripts/gpu-check/cuda.py "$WORK" 2>&1 || echo "cuda.py failed"
  exit $status
} 2>&1 | tee "$RESULTS/gpu-check.log"
