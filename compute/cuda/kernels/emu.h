// emu.h: just enough of CUDA C to run kernels.cu on the CPU (see emu.cc).
// Each CUDA thread of a block is a fiber (a cooperatively scheduled
// coroutine on its own stack); blocks run one after the other. Barriers
// (__syncthreads, and the two halves of every warp shuffle or ballot)
// switch fibers, so kernels that break CUDA's rules — a barrier not reached
// by the whole block, a shuffle not reached by the whole warp — deadlock,
// and the emulator reports them instead of silently diverging.
#ifndef SAESCOPE_EMU_H
#define SAESCOPE_EMU_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define SAESCOPE_EMU 1

struct emu_dim3 {
	unsigned int x, y, z;
};

struct emu_fiber;
extern emu_fiber* emu_cur;
extern emu_dim3 emu_block_idx, emu_block_dim, emu_grid_dim;
const emu_dim3& emu_thread_idx();
int emu_linear_tid();
void emu_warp_barrier();
void emu_block_barrier();
void emu_check_mask(unsigned int mask);
extern uint64_t emu_slots[32][32];

#define threadIdx (emu_thread_idx())
#define blockIdx emu_block_idx
#define blockDim emu_block_dim
#define gridDim emu_grid_dim
#define __global__
#define __device__
#define __forceinline__
#define __shared__ static
#define __syncthreads() emu_block_barrier()

template <typename T>
static inline T emu_exchange(T v, int src) {
	int tid = emu_linear_tid(), w = tid >> 5, lane = tid & 31;
	uint64_t bits = 0;
	memcpy(&bits, &v, sizeof(T));
	emu_slots[w][lane] = bits;
	emu_warp_barrier();
	uint64_t r = emu_slots[w][src & 31];
	emu_warp_barrier(); // nobody overwrites a slot before every lane read
	T out;
	memcpy(&out, &r, sizeof(T));
	return out;
}

template <typename T>
static inline T __shfl_xor_sync(unsigned int mask, T v, int lane_mask) {
	emu_check_mask(mask);
	return emu_exchange(v, (emu_linear_tid() & 31) ^ lane_mask);
}

template <typename T>
static inline T __shfl_sync(unsigned int mask, T v, int src_lane) {
	emu_check_mask(mask);
	return emu_exchange(v, src_lane);
}

static inline unsigned int __ballot_sync(unsigned int mask, int pred) {
	emu_check_mask(mask);
	int tid = emu_linear_tid(), w = tid >> 5, lane = tid & 31;
	emu_slots[w][lane] = pred != 0;
	emu_warp_barrier();
	unsigned int out = 0;
	for (int i = 0; i < 32; i++)
		if (emu_slots[w][i]) out |= 1u << i;
	emu_warp_barrier();
	return out;
}

static inline int __popc(unsigned int x) { return __builtin_popcount(x); }

static inline unsigned int __float_as_uint(float f) {
	unsigned int u;
	memcpy(&u, &f, sizeof u);
	return u;
}

// atomicAdd needs no lock: fibers switch only at barriers, so no other
// thread runs between the read and the write.
static inline int atomicAdd(int* p, int v) {
	int old = *p;
	*p = old + v;
	return old;
}

#endif
