// Stand-in for CUDA's <cuda_fp16.h> in the CPU emulation (emu.h): values kept as f32, rounded to f16.
#pragma once
struct __half { float f; };
inline float __half2float(__half h) { return h.f; }
inline __half __float2half(float x) { return __half{(float)(_Float16)x}; }
struct __half2 { __half x, y; };
inline float __low2float(__half2 h) { return h.x.f; }
inline float __high2float(__half2 h) { return h.y.f; }
inline __half2 __floats2half2_rn(float a, float b) { return __half2{__float2half(a), __float2half(b)}; }
