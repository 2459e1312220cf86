#!/usr/bin/env bash
# CMAKE_ARGS for building llama-cpp-python: what llama.cpp's GGML_NATIVE would pick on this
# CPU, minus AMX. Some VMs advertise AMX but trap it (SIGILL at tilezero on the first
# evaluation), and GGML_NATIVE cannot leave it out, so each x86 extension is switched on
# only where /proc/cpuinfo lists it. Elsewhere (not x86, no cpuinfo) llama.cpp's defaults apply.
set -euo pipefail
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
if [ -z "$flags" ] || [ "$(uname -m)" != "x86_64" ]; then
  exit 0
fi
has() { [[ " $flags " == *" $1 "* ]] && echo ON || echo OFF; }
echo "-DGGML_NATIVE=OFF -DGGML_AVX=$(has avx) -DGGML_AVX2=$(has avx2) -DGGML_FMA=$(has fma) -DGGML_F16C=$(has f16c)" \
  "-DGGML_BMI2=$(has bmi2) -DGGML_AVX_VNNI=$(has avx_vnni) -DGGML_AVX512=$(has avx512f)" \
  "-DGGML_AVX512_VNNI=$(has avx512_vnni) -DGGML_AVX512_BF16=$(has avx512_bf16)" \
  "-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
