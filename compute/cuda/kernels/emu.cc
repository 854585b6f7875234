//go:build !cuda && cgo

// The kernel emulator: kernels.cu compiled as C++ against emu.h, a fiber
// scheduler that runs each block's threads, the launch table mapping kernel
// names and 64-bit parameter slots to the kernels' C++ signatures (the same
// slots the GPU backend hands to cuLaunchKernel), and a reference
// column-major SGEMM standing in for cuBLAS.

#include "emu.h"

#include <stdio.h>
#include <stdlib.h>

#include <functional>
#include <string>
#include <vector>

#include "kernels.cu"

// Fibers switch with a few lines of assembly on x86-64 (callee-saved
// registers and the stack pointer), with ucontext elsewhere (or when
// SAESCOPE_EMU_UCONTEXT is defined; slower: it saves the signal mask).
#if defined(__x86_64__) && !defined(SAESCOPE_EMU_UCONTEXT)
#define EMU_ASM_SWITCH 1
#else
#include <ucontext.h>
#endif

namespace {

enum State { RUNNABLE, WAIT_WARP, WAIT_BLOCK, DONE };

} // namespace

struct emu_fiber {
	void* sp; // saved stack pointer (x86-64 switch)
#if !defined(EMU_ASM_SWITCH)
	ucontext_t uc;
#endif
	char* stack;
	int tid;
	emu_dim3 tidx;
	int state;
};

emu_fiber* emu_cur;
emu_dim3 emu_block_idx, emu_block_dim, emu_grid_dim;
uint64_t emu_slots[32][32];

namespace {

const size_t kStack = 64 << 10;
std::vector<emu_fiber> fibers;
const std::function<void()>* body;
const char* kernel_name = "";
std::string last_error;

#if defined(EMU_ASM_SWITCH)
void* sched_sp;
extern "C" void saescope_emu_switch(void** save, void* to);
__asm__(
    ".text\n"
    ".globl saescope_emu_switch\n"
    ".hidden saescope_emu_switch\n"
    ".type saescope_emu_switch,@function\n"
    "saescope_emu_switch:\n"
    "\tpushq %rbp\n\tpushq %rbx\n\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n\tpushq %r15\n"
    "\tmovq %rsp, (%rdi)\n"
    "\tmovq %rsi, %rsp\n"
    "\tpopq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\tpopq %rbx\n\tpopq %rbp\n"
    "\tret\n"
    ".size saescope_emu_switch, .-saescope_emu_switch\n");
#else
ucontext_t sched_uc;
#endif

void to_scheduler() {
#if defined(EMU_ASM_SWITCH)
	saescope_emu_switch(&emu_cur->sp, sched_sp);
#else
	swapcontext(&emu_cur->uc, &sched_uc);
#endif
}

void to_fiber(emu_fiber* f) {
	emu_cur = f;
#if defined(EMU_ASM_SWITCH)
	saescope_emu_switch(&sched_sp, f->sp);
#else
	swapcontext(&sched_uc, &f->uc);
#endif
}

// fiber_main runs the kernel body once per block, parking between blocks.
void fiber_main() {
	for (;;) {
		(*body)();
		emu_cur->state = DONE;
		to_scheduler();
	}
}

void init_fiber(emu_fiber* f) {
	if (!f->stack) f->stack = (char*)malloc(kStack);
	if (!f->stack) {
		fprintf(stderr, "cuda emulator: out of memory for fiber stacks\n");
		abort();
	}
#if defined(EMU_ASM_SWITCH)
	uintptr_t top = ((uintptr_t)(f->stack + kStack)) & ~(uintptr_t)15;
	void** sp = (void**)top;
	*--sp = 0;                   // alignment slot: fiber_main starts with rsp ≡ 8 (mod 16)
	*--sp = (void*)&fiber_main; // return address of the first switch
	for (int i = 0; i < 6; i++) *--sp = 0; // rbp, rbx, r12–r15
	f->sp = sp;
#else
	getcontext(&f->uc);
	f->uc.uc_stack.ss_sp = f->stack;
	f->uc.uc_stack.ss_size = kStack;
	f->uc.uc_link = 0;
	makecontext(&f->uc, (void (*)())fiber_main, 0);
#endif
}

const char* state_name(int s) {
	switch (s) {
	case RUNNABLE: return "running";
	case WAIT_WARP: return "at a warp shuffle/ballot";
	case WAIT_BLOCK: return "at __syncthreads";
	}
	return "exited";
}

[[noreturn]] void deadlock() {
	fprintf(stderr, "cuda emulator: kernel %s deadlocks in block (%u,%u,%u): threads disagree on barriers (CUDA would hang or misbehave too)\n",
	        kernel_name, emu_block_idx.x, emu_block_idx.y, emu_block_idx.z);
	int n = (int)emu_block_dim.x * emu_block_dim.y * emu_block_dim.z;
	for (int t = 0; t < n; t += 32) {
		fprintf(stderr, "  warp %d:", t / 32);
		for (int l = 0; l < 32 && t + l < n; l++) fprintf(stderr, " %d", fibers[t + l].state);
		fprintf(stderr, "\n");
	}
	fprintf(stderr, "  (states: 1 %s, 2 %s, 3 %s)\n", state_name(1), state_name(2), state_name(3));
	abort();
}

void run_block(int n) {
	for (int i = 0; i < n; i++) fibers[i].state = RUNNABLE;
	for (;;) {
		for (int i = 0; i < n; i++)
			if (fibers[i].state == RUNNABLE) to_fiber(&fibers[i]);
		bool released = false;
		for (int w = 0; w < n; w += 32) {
			int waiting = 0;
			for (int l = 0; l < 32; l++) waiting += fibers[w + l].state == WAIT_WARP;
			if (waiting == 32) {
				for (int l = 0; l < 32; l++) fibers[w + l].state = RUNNABLE;
				released = true;
			}
		}
		if (released) continue;
		int atBlock = 0, done = 0;
		for (int i = 0; i < n; i++) {
			atBlock += fibers[i].state == WAIT_BLOCK;
			done += fibers[i].state == DONE;
		}
		if (done == n) return;
		if (atBlock == n) {
			for (int i = 0; i < n; i++) fibers[i].state = RUNNABLE;
			continue;
		}
		deadlock();
	}
}

int launch(const char* name, emu_dim3 grid, emu_dim3 block, const std::function<void()>& fn) {
	int n = (int)(block.x * block.y * block.z);
	if (n <= 0 || n > 1024 || n % 32 != 0) {
		last_error = std::string("kernel ") + name + ": block of " + std::to_string(n) + " threads (the kernels need a multiple of 32, at most 1024)";
		return -1;
	}
	if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535) {
		last_error = std::string("kernel ") + name + ": invalid grid";
		return -1;
	}
	if (fibers.size() < (size_t)n) fibers.resize(n, emu_fiber{});
	body = &fn;
	kernel_name = name;
	emu_block_dim = block;
	emu_grid_dim = grid;
	for (int i = 0; i < n; i++) {
		emu_fiber* f = &fibers[i];
		f->tid = i;
		f->tidx = emu_dim3{(unsigned)i % block.x, (unsigned)(i / block.x) % block.y, (unsigned)(i / (block.x * block.y))};
		init_fiber(f);
	}
	for (unsigned z = 0; z < grid.z; z++)
		for (unsigned y = 0; y < grid.y; y++)
			for (unsigned x = 0; x < grid.x; x++) {
				emu_block_idx = emu_dim3{x, y, z};
				run_block(n);
			}
	return 0;
}

float f32(uint64_t slot) {
	uint32_t bits = (uint32_t)slot;
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

} // namespace

const emu_dim3& emu_thread_idx() { return emu_cur->tidx; }
int emu_linear_tid() { return emu_cur->tid; }

void emu_warp_barrier() {
	emu_cur->state = WAIT_WARP;
	to_scheduler();
}

void emu_block_barrier() {
	emu_cur->state = WAIT_BLOCK;
	to_scheduler();
}

void emu_check_mask(unsigned int mask) {
	if (mask != 0xffffffffu) {
		fprintf(stderr, "cuda emulator: kernel %s uses a partial warp mask %#x (the kernels use full warps only)\n", kernel_name, mask);
		abort();
	}
}

extern "C" {

const char* saescope_emu_error(void) { return last_error.c_str(); }

// saescope_emu_launch runs kernel name on a grid; a holds nargs parameter
// slots. It returns 0, or -1 with saescope_emu_error set.
int saescope_emu_launch(const char* name, int gx, int gy, int gz, int bx, int by, int bz, const uint64_t* a, int nargs) {
	emu_dim3 grid{(unsigned)gx, (unsigned)gy, (unsigned)gz}, block{(unsigned)bx, (unsigned)by, (unsigned)bz};
	std::string k(name);
	int want = -1;
	// 32-bit slots must have clear upper halves (how the backend packs int and float).
	auto narrow = [&](std::initializer_list<int> idx) {
		for (int i : idx)
			if (i < nargs && (a[i] >> 32) != 0) {
				last_error = "kernel " + k + ": parameter " + std::to_string(i) + " is not a 32-bit value";
				return false;
			}
		return true;
	};
#define PTR(T, i) ((T)(uintptr_t)a[i])
#define I32(i) ((int)(uint32_t)a[i])
#define I64(i) ((long long)a[i])
#define F32(i) f32(a[i])
#define CASE(nm, n, narrowed, call)                                   \
	if (k == nm) {                                                     \
		want = n;                                                      \
		if (nargs != want) goto badargs;                               \
		if (!narrow narrowed) return -1;                               \
		return launch(name, grid, block, [&] { call; });               \
	}
	CASE("fill_rows", 4, ({3}), fill_rows(PTR(float*, 0), PTR(const float*, 1), I64(2), I32(3)))
	CASE("add", 4, ({}), add(PTR(float*, 0), PTR(const float*, 1), PTR(const float*, 2), I64(3)))
	CASE("sub_row", 5, ({4}), sub_row(PTR(float*, 0), PTR(const float*, 1), PTR(const float*, 2), I64(3), I32(4)))
	CASE("bias_relu", 4, ({3}), bias_relu(PTR(float*, 0), PTR(const float*, 1), I64(2), I32(3)))
	CASE("gelu_new", 2, ({}), gelu_new(PTR(float*, 0), I64(1)))
	CASE("add_row", 4, ({3}), add_row(PTR(float*, 0), PTR(const float*, 1), I64(2), I32(3)))
	CASE("bias_gelu_new", 4, ({3}), bias_gelu_new(PTR(float*, 0), PTR(const float*, 1), I64(2), I32(3)))
	CASE("add_residual", 10, ({3, 7, 8, 9}), add_residual(PTR(float*, 0), PTR(float*, 1), PTR(const float*, 2), I32(3), PTR(float*, 4), PTR(const float*, 5), PTR(const float*, 6), I32(7), I32(8), F32(9)))
	CASE("gather_rows", 5, ({3, 4}), gather_rows(PTR(float*, 0), PTR(const float*, 1), PTR(const int*, 2), I32(3), I32(4)))
	CASE("center_rows", 3, ({1, 2}), center_rows(PTR(float*, 0), I32(1), I32(2)))
	CASE("layernorm", 7, ({4, 5, 6}), layernorm(PTR(float*, 0), PTR(const float*, 1), PTR(const float*, 2), PTR(const float*, 3), I32(4), I32(5), F32(6)))
	CASE("mean_rows", 4, ({2, 3}), mean_rows(PTR(float*, 0), PTR(const float*, 1), I32(2), I32(3)))
	CASE("cross_entropy", 5, ({3, 4}), cross_entropy(PTR(float*, 0), PTR(const float*, 1), PTR(const int*, 2), I32(3), I32(4)))
	CASE("softmax_stats", 5, ({3, 4}), softmax_stats(PTR(float*, 0), PTR(float*, 1), PTR(const float*, 2), I32(3), I32(4)))
	CASE("attention", 6, ({2, 3, 4, 5}), attention(PTR(float*, 0), PTR(const float*, 1), I32(2), I32(3), I32(4), F32(5)))
	CASE("count_positive", 4, ({2, 3}), count_positive(PTR(int*, 0), PTR(const float*, 1), I32(2), I32(3)))
	CASE("compact_positive", 6, ({4, 5}), compact_positive(PTR(unsigned int*, 0), PTR(float*, 1), PTR(const float*, 2), PTR(const unsigned long long*, 3), I32(4), I32(5)))
	CASE("row_sumsq", 4, ({2, 3}), row_sumsq(PTR(double*, 0), PTR(const float*, 1), I32(2), I32(3)))
	CASE("topk_rows", 4, ({1, 2, 3}), topk_rows(PTR(float*, 0), I32(1), I32(2), I32(3)))
	CASE("jump_relu", 4, ({3}), jump_relu(PTR(float*, 0), PTR(const float*, 1), I64(2), I32(3)))
	CASE("gate", 3, ({}), gate(PTR(float*, 0), PTR(const float*, 1), I64(2)))
	CASE("normalize_rows", 7, ({3, 4, 5, 6}), normalize_rows(PTR(float*, 0), PTR(float*, 1), PTR(const float*, 2), I32(3), I32(4), I32(5), F32(6)))
	CASE("denormalize_rows", 4, ({3}), denormalize_rows(PTR(float*, 0), PTR(const float*, 1), I64(2), I32(3)))
#undef CASE
	last_error = "no kernel named " + k;
	return -1;
badargs:
	last_error = "kernel " + k + ": " + std::to_string(nargs) + " parameters, want " + std::to_string(want);
	return -1;
}

// saescope_emu_sgemm is a reference column-major SGEMM with cuBLAS's
// parameters (op(A) m×k, op(B) k×n, C m×n).
void saescope_emu_sgemm(int ta, int tb, int m, int n, int k, float alpha, uintptr_t pa, int lda, uintptr_t pb, int ldb, float beta, uintptr_t pc, int ldc) {
	const float* A = (const float*)pa;
	const float* B = (const float*)pb;
	float* C = (float*)pc;
	std::vector<float> acc(m);
	for (int j = 0; j < n; j++) {
		for (int i = 0; i < m; i++) acc[i] = 0.0f;
		for (int p = 0; p < k; p++) {
			float bv = tb ? B[j + (size_t)p * ldb] : B[p + (size_t)j * ldb];
			if (ta)
				for (int i = 0; i < m; i++) acc[i] += A[p + (size_t)i * lda] * bv;
			else
				for (int i = 0; i < m; i++) acc[i] += A[i + (size_t)p * lda] * bv;
		}
		for (int i = 0; i < m; i++) {
			float* c = &C[i + (size_t)j * ldc];
			*c = beta == 0.0f ? alpha * acc[i] : alpha * acc[i] + beta * *c;
		}
	}
}

} // extern "C"
