#include "kernels.h"
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define SAESCOPE_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define SAESCOPE_CLONES
#endif

// The arithmetic of exp for float32 on [SAESCOPE_EXP_MIN, SAESCOPE_EXP_MAX]
// (inputs are clamped): Cody–Waite range reduction, x = n·ln 2 + r with ln 2
// in two parts, and a degree-6 polynomial of r, relative error below 2e-7.
// Macros, so that saescope_expf and the attention kernel's vector exp
// (attention_kernel.h) are written once, for floats and for registers.
#define SAESCOPE_EXP_MIN -87.3f
#define SAESCOPE_EXP_MAX 88.3f
#define SAESCOPE_LOG2E 1.44269504088896341f
#define SAESCOPE_EXP_REDUCE(x, n) ((x) - (n) * 0.693145751953125f - (n) * 1.42860682030941723212e-6f)
#define SAESCOPE_EXP_POLY(r) \
	(1.0f + (r) * (1.0f + (r) * (0.5f + (r) * (1.0f / 6 + (r) * (1.0f / 24 + (r) * (1.0f / 120 + (r) * (1.0f / 720)))))))

// exp for float32, written without branches so that loops calling it
// vectorize.
static inline float saescope_expf(float x) {
	x = x < SAESCOPE_EXP_MIN ? SAESCOPE_EXP_MIN : x;
	x = x > SAESCOPE_EXP_MAX ? SAESCOPE_EXP_MAX : x;
	float n = __builtin_rintf(x * SAESCOPE_LOG2E);
	float r = SAESCOPE_EXP_REDUCE(x, n);
	float p = SAESCOPE_EXP_POLY(r);
	int32_t bits = ((int32_t)n + 127) << 23;
	float scale;
	memcpy(&scale, &bits, sizeof scale);
	return p * scale;
}

// saescope_gelu1 is gelu_new of one value: 0.5·v·(1 + tanh(u)) =
// v·sigmoid(2u), u = sqrt(2/pi)·(v + 0.044715·v³). The division is cheaper
// here than a reciprocal by Newton steps (measured 135 against 157 µs for
// 196,608 values on one core). Shared by the kernels below, so that
// gelu_new with and without the product's bias gives the same bits.
static inline float saescope_gelu1(float v) {
	float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
	return v / (1.0f + saescope_expf(-2.0f * u));
}

// saescope_add_bias_row adds bias to one row of n (the arithmetic of
// saescope_add_bias and of saescope_add_residual's bias).
static inline void saescope_add_bias_row(float* r, const float* bias, int n) {
	for (int j = 0; j < n; j++) r[j] += bias[j];
}

SAESCOPE_CLONES
void saescope_bias_gelu_new(float* x, const float* bias, ptrdiff_t rows, int cols) {
	for (ptrdiff_t i = 0; i < rows; i++) {
		float* r = x + i * cols;
		for (int j = 0; j < cols; j++) r[j] = saescope_gelu1(r[j] + bias[j]);
	}
}

SAESCOPE_CLONES
void saescope_add_bias(float* x, const float* bias, ptrdiff_t rows, int cols) {
	for (ptrdiff_t i = 0; i < rows; i++) saescope_add_bias_row(x + i * cols, bias, cols);
}

SAESCOPE_CLONES
void saescope_gelu_new(float* x, ptrdiff_t n) {
	for (ptrdiff_t i = 0; i < n; i++) x[i] = saescope_gelu1(x[i]);
}

// saescope_causal_softmax works on each row i up to lim, the row's i+1
// scores rounded up to a whole vector of 16 (and cut at seq), selecting
// the columns past i out of the reductions, so that every loop vectorizes
// without a scalar tail; the reductions (the maximum, the sum of the
// exponentials) keep 16 partial results (a single float accumulator would
// stay scalar: without -ffast-math the compiler may not reorder additions).
// Columns i+1..lim-1 hold finite scores of this head's tile or earlier
// zeros; their exponentials are computed and dropped.
SAESCOPE_CLONES
void saescope_causal_softmax(float* s, int seq) {
	for (int i = 0; i < seq; i++) {
		float* row = s + (ptrdiff_t)i * seq;
		int n = i + 1;
		int lim = (n + 15) & ~15;
		lim = lim > seq ? seq : lim;
		float m[16], p[16];
		for (int k = 0; k < 16; k++) m[k] = row[0], p[k] = 0;
		int j = 0;
		for (; j + 16 <= lim; j += 16)
			for (int k = 0; k < 16; k++) {
				float v = j + k < n ? row[j + k] : row[0];
				m[k] = v > m[k] ? v : m[k];
			}
		for (int k = 0; j < n; j++, k++) m[k] = row[j] > m[k] ? row[j] : m[k];
		float mx = m[0];
		for (int k = 1; k < 16; k++) mx = m[k] > mx ? m[k] : mx;
		for (j = 0; j < lim; j++) row[j] = saescope_expf(row[j] - mx);
		for (j = 0; j + 16 <= lim; j += 16)
			for (int k = 0; k < 16; k++) p[k] += j + k < n ? row[j + k] : 0.0f;
		for (int k = 0; j < n; j++, k++) p[k] += row[j];
		float sum = 0;
		for (int k = 0; k < 16; k++) sum += p[k];
		float inv = 1.0f / sum;
		for (j = 0; j < seq; j++) row[j] = j < n ? row[j] * inv : 0.0f;
	}
}

SAESCOPE_CLONES
void saescope_exp_sums(const float* x, ptrdiff_t n, float* mx_out, double* s_out, double* t_out) {
	float mx = x[0];
	for (ptrdiff_t j = 1; j < n; j++) mx = x[j] > mx ? x[j] : mx;
	// Exponentials a block at a time into e (a loop the compiler
	// vectorizes), then float64 sums over four accumulators each.
	enum { BLOCK = 512 };
	float e[BLOCK], d[BLOCK];
	double s[4] = {0, 0, 0, 0}, t[4] = {0, 0, 0, 0};
	for (ptrdiff_t i0 = 0; i0 < n; i0 += BLOCK) {
		ptrdiff_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
		for (ptrdiff_t j = 0; j < m; j++) {
			d[j] = x[i0 + j] - mx;
			e[j] = saescope_expf(d[j]);
		}
		ptrdiff_t j = 0;
		for (; j + 4 <= m; j += 4)
			for (int k = 0; k < 4; k++) {
				s[k] += (double)e[j + k];
				t[k] += (double)e[j + k] * (double)d[j + k];
			}
		for (; j < m; j++) {
			s[0] += (double)e[j];
			t[0] += (double)e[j] * (double)d[j];
		}
	}
	*mx_out = mx;
	*s_out = (s[0] + s[1]) + (s[2] + s[3]);
	if (t_out) *t_out = (t[0] + t[1]) + (t[2] + t[3]);
}

// saescope_row_mean is the mean of a row of n over 16 partial float32
// sums (a loop the compiler vectorizes); centring and LayerNorm share it,
// so that the fused and the separate kernels give the same bits.
static inline float saescope_row_mean(const float* x, int n) {
	float s[16] = {0};
	int j = 0;
	for (; j + 16 <= n; j += 16)
		for (int k = 0; k < 16; k++) s[k] += x[j + k];
	for (int k = 0; j < n; j++, k++) s[k] += x[j];
	float sum = 0;
	for (int k = 0; k < 16; k++) sum += s[k];
	return sum / (float)n;
}

// saescope_row_mean_biased is saescope_row_mean of x + bias (n floats
// each), the sums without storing x + bias: the same bits as
// saescope_add_bias_row, then saescope_row_mean.
static inline float saescope_row_mean_biased(const float* x, const float* bias, int n) {
	float s[16] = {0};
	int j = 0;
	for (; j + 16 <= n; j += 16)
		for (int k = 0; k < 16; k++) s[k] += x[j + k] + bias[j + k];
	for (int k = 0; j < n; j++, k++) s[k] += x[j] + bias[j];
	float sum = 0;
	for (int k = 0; k < 16; k++) sum += s[k];
	return sum / (float)n;
}

// saescope_row_norm writes (x - mean)·inv·w + b of one row of n into out
// (out may be x), the variance over 16 partial float32 sums, the inverse
// square root in double.
static inline void saescope_row_norm(const float* x, float* out, const float* w, const float* b, int n, float eps) {
	float mean = saescope_row_mean(x, n);
	float q[16] = {0};
	int j = 0;
	for (; j + 16 <= n; j += 16)
		for (int k = 0; k < 16; k++) {
			float a = x[j + k] - mean;
			q[k] += a * a;
		}
	for (int k = 0; j < n; j++, k++) {
		float a = x[j] - mean;
		q[k] += a * a;
	}
	float var = 0;
	for (int k = 0; k < 16; k++) var += q[k];
	var /= (float)n;
	float inv = (float)(1.0 / __builtin_sqrt((double)(var + eps)));
	for (j = 0; j < n; j++) out[j] = (x[j] - mean) * inv * w[j] + b[j];
}

SAESCOPE_CLONES
void saescope_layernorm(const float* x, float* out, const float* w, const float* b, ptrdiff_t rows, int cols, float eps) {
	for (ptrdiff_t i = 0; i < rows; i++) saescope_row_norm(x + i * cols, out + i * cols, w, b, cols, eps);
}

SAESCOPE_CLONES
void saescope_center_rows(float* x, ptrdiff_t rows, int cols) {
	for (ptrdiff_t i = 0; i < rows; i++) {
		float* d = x + i * cols;
		float mean = saescope_row_mean(d, cols);
		for (int j = 0; j < cols; j++) d[j] -= mean;
	}
}

SAESCOPE_CLONES
void saescope_add_residual(float* resid, const float* delta, const float* bias, int centre, float* ln, const float* w,
                           const float* b, ptrdiff_t rows, int cols, float eps) {
	for (ptrdiff_t i = 0; i < rows; i++) {
		float* r = resid + i * cols;
		const float* d = delta + i * cols;
		// uncentred, the mean is +0, and v - 0 is v to the bit (−0 included)
		float mean = !centre ? 0.0f : bias ? saescope_row_mean_biased(d, bias, cols) : saescope_row_mean(d, cols);
		if (bias)
			for (int j = 0; j < cols; j++) r[j] += (d[j] + bias[j]) - mean;
		else
			for (int j = 0; j < cols; j++) r[j] += d[j] - mean;
		if (ln) saescope_row_norm(r, ln + i * cols, w, b, cols, eps);
	}
}

SAESCOPE_CLONES
void saescope_bias_relu(float* x, const float* bias, ptrdiff_t rows, int cols) {
	for (ptrdiff_t i = 0; i < rows; i++) {
		float* r = x + i * cols;
		if (bias)
			for (int j = 0; j < cols; j++) {
				float v = r[j] + bias[j];
				r[j] = v < 0 ? 0 : v;
			}
		else
			for (int j = 0; j < cols; j++) r[j] = r[j] < 0 ? 0 : r[j];
	}
}

// The attention kernel's query rows per block, at most: what its scratch
// is sized for (each variant's SAESCOPE_QK_ROWS is checked against it).
enum { SAESCOPE_ATTN_MAX_ROWS = 8 };

// How many rows ahead of its copy the attention kernel prefetches a head's
// q, k and v (a row's three 256-byte pieces take ~20 ns to copy; 8 and 16
// rows ahead alike, 4 gained less).
enum { SAESCOPE_ATTN_PREFETCH = 8 };

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// The attention kernel is built twice, for AVX-512 (F, DQ, BW and VL, as
// every AVX-512 CPU since Skylake-SP has) and for AVX2 with FMA, by
// pragma: under target_clones, like the elementwise kernels, the helpers
// inlined into a clone kept the default target's vector code (the lane
// masks became scalar code, the softmax 4× slower). On CPUs with neither
// (and without cgo) the backend computes attention through the BLAS.
#define SAESCOPE_ATTN(name) name##_avx512
#define SAESCOPE_VL 16
#define SAESCOPE_QK_ROWS 8
#define SAESCOPE_QK_VECS 2
#define SAESCOPE_AV_VECS 4
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,fma")
#include "attention_kernel.h"
#pragma GCC pop_options

// AVX2 has 16 registers of 8 floats: 4 query rows by 16 keys (8 sums) and
// 4 rows by 16 dimensions (8 sums).
#define SAESCOPE_ATTN(name) name##_avx2
#define SAESCOPE_VL 8
#define SAESCOPE_QK_ROWS 4
#define SAESCOPE_QK_VECS 2
#define SAESCOPE_AV_VECS 2
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include "attention_kernel.h"
#pragma GCC pop_options

int saescope_attention_variant(void) {
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
		return 2;
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
	return 0;
}

void saescope_attention_head(int variant, const float* q, const float* k, const float* v, ptrdiff_t ld,
                             const float* bq, const float* bk, const float* bv, float* out, ptrdiff_t ldo, int seq,
                             int dh, float scale, float* scratch) {
	if (variant == 2)
		saescope_attention_head_avx512(q, k, v, ld, bq, bk, bv, out, ldo, seq, dh, scale, scratch);
	else if (variant == 1)
		saescope_attention_head_avx2(q, k, v, ld, bq, bk, bv, out, ldo, seq, dh, scale, scratch);
}
#else
int saescope_attention_variant(void) { return 0; }

void saescope_attention_head(int variant, const float* q, const float* k, const float* v, ptrdiff_t ld,
                             const float* bq, const float* bk, const float* bv, float* out, ptrdiff_t ldo, int seq,
                             int dh, float scale, float* scratch) {
	(void)variant, (void)q, (void)k, (void)v, (void)ld, (void)bq, (void)bk, (void)bv, (void)out, (void)ldo, (void)seq,
	    (void)dh, (void)scale, (void)scratch;
}
#endif

// The scratch's layout is saescope_attention_head's (attention_kernel.h):
// Kᵀ (dh × sp), V and K (seq × dh each), the scores of a block of rows,
// and Q (seq × dh).
ptrdiff_t saescope_attention_scratch(int seq, int dh) {
	ptrdiff_t sp = (seq + 31) & ~31;
	return (ptrdiff_t)dh * sp + 3 * (ptrdiff_t)seq * dh + SAESCOPE_ATTN_MAX_ROWS * sp;
}
