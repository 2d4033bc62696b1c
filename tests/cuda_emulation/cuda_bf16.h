// Stand-in for CUDA's <cuda_bf16.h> in the CPU emulation (emu.h): values kept as f32.
#pragma once
struct __nv_bfloat16 { float f; };
inline float __bfloat162float(__nv_bfloat16 h) { return h.f; }
inline __nv_bfloat16 __float2bfloat16(float x) { return __nv_bfloat16{x}; }
struct __nv_bfloat162 { __nv_bfloat16 x, y; };
inline float __low2float(__nv_bfloat162 h) { return h.x.f; }
inline float __high2float(__nv_bfloat162 h) { return h.y.f; }
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return __nv_bfloat162{__float2bfloat16(a), __float2bfloat16(b)}; }
