#include "kernels.h"
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define SAESCOPE_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define SAESCOPE_CLONES
#endif

// exp for float32 on [-87.3, 88.3] (inputs are clamped): Cody–Waite range
// reduction and a degree-6 polynomial, relative error below 2e-7. Written
// without branches so that loops calling it vectorize.
static inline float saescope_expf(float x) {
	x = x < -87.3f ? -87.3f : x;
	x = x > 88.3f ? 88.3f : x;
	float n = __builtin_rintf(x * 1.44269504088896341f);
	float r = x - n * 0.693145751953125f - n * 1.42860682030941723212e-6f;
	float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
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
void saescope_add_residual(float* resid, float* delta, const float* bias, int centre, float* ln, const float* w,
                           const float* b, ptrdiff_t rows, int cols, float eps) {
	for (ptrdiff_t i = 0; i < rows; i++) {
		float* r = resid + i * cols;
		float* d = delta + i * cols;
		if (bias) saescope_add_bias_row(d, bias, cols);
		if (centre) {
			float mean = saescope_row_mean(d, cols);
			for (int j = 0; j < cols; j++) d[j] -= mean;
		}
		for (int j = 0; j < cols; j++) r[j] += d[j];
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

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// The attention kernel is built for AVX-512 alone (F, DQ, BW and VL, as
// every AVX-512 CPU since Skylake-SP has): its 16-float vectors and their
// lane masks become single instructions there, where AVX2 and SSE2 code
// made of them was 20–50× slower than the BLAS tiles the backend uses on
// those CPUs instead. A pragma, not target_clones: helpers inlined into a
// clone keep the vector code of the default target (the masks became
// scalar code, the softmax 4× slower).
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,fma")

// saescope_vf16 is 16 floats, one AVX-512 register; saescope_vi16 its
// lanes' masks.
typedef float saescope_vf16 __attribute__((vector_size(64)));
typedef int saescope_vi16 __attribute__((vector_size(64)));

// Unaligned loads and stores of 16 floats, a lane-wise select and a
// broadcast.
#define SAESCOPE_LOAD16(v, p) memcpy(&(v), (p), sizeof(saescope_vf16))
#define SAESCOPE_STORE16(p, v) memcpy((p), &(v), sizeof(saescope_vf16))
#define SAESCOPE_SELECT(mask, a, b) ((saescope_vf16)(((mask) & (saescope_vi16)(a)) | (~(mask) & (saescope_vi16)(b))))
#define SAESCOPE_SPLAT(c) ((saescope_vf16){0} + (c))

// saescope_exp16 is saescope_expf on 16 floats in place (the rounding to
// the nearest integer by adding and subtracting 1.5·2^23).
static inline void saescope_exp16(float* p) {
	saescope_vf16 x;
	SAESCOPE_LOAD16(x, p);
	x = SAESCOPE_SELECT(x < SAESCOPE_SPLAT(-87.3f), SAESCOPE_SPLAT(-87.3f), x);
	x = SAESCOPE_SELECT(x > SAESCOPE_SPLAT(88.3f), SAESCOPE_SPLAT(88.3f), x);
	saescope_vf16 n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
	saescope_vf16 r = x - n * 0.693145751953125f - n * 1.42860682030941723212e-6f;
	saescope_vf16 e = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
	saescope_vi16 bits = (__builtin_convertvector(n, saescope_vi16) + 127) << 23;
	x = e * (saescope_vf16)bits;
	SAESCOPE_STORE16(p, x);
}

// The largest of and the sum of 16 partial results, as trees four steps
// deep (a chain of 15 took most of a short row's softmax).
static inline float saescope_max16(const float* m) {
	float a[8], b[4];
	for (int k = 0; k < 8; k++) a[k] = m[k] > m[k + 8] ? m[k] : m[k + 8];
	for (int k = 0; k < 4; k++) b[k] = a[k] > a[k + 4] ? a[k] : a[k + 4];
	float c0 = b[0] > b[2] ? b[0] : b[2], c1 = b[1] > b[3] ? b[1] : b[3];
	return c0 > c1 ? c0 : c1;
}
static inline float saescope_sum16(const float* p) {
	float a[8], b[4];
	for (int k = 0; k < 8; k++) a[k] = p[k] + p[k + 8];
	for (int k = 0; k < 4; k++) b[k] = a[k] + a[k + 4];
	return (b[0] + b[2]) + (b[1] + b[3]);
}

// saescope_softmax_prefix turns row[0..n) into its softmax and zeroes
// row[n..width) (width a multiple of 16, at least n).
static inline void saescope_softmax_prefix(float* row, int n, int width) {
	const saescope_vi16 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	saescope_vf16 m, x;
	SAESCOPE_LOAD16(m, row);
	m = SAESCOPE_SELECT(lane < n, m, SAESCOPE_SPLAT(row[0]));
	for (int j = 16; j < width; j += 16) {
		SAESCOPE_LOAD16(x, row + j);
		saescope_vi16 take = (lane + j < n) & (x > m);
		m = SAESCOPE_SELECT(take, x, m);
	}
	float lanes[16];
	SAESCOPE_STORE16(lanes, m);
	saescope_vf16 mx = SAESCOPE_SPLAT(saescope_max16(lanes)), p = {0};
	for (int j = 0; j < width; j += 16) {
		SAESCOPE_LOAD16(x, row + j);
		x -= mx;
		SAESCOPE_STORE16(row + j, x);
		saescope_exp16(row + j);
		SAESCOPE_LOAD16(x, row + j);
		x = SAESCOPE_SELECT(lane + j < n, x, SAESCOPE_SPLAT(0.0f));
		p += x;
		SAESCOPE_STORE16(row + j, x);
	}
	SAESCOPE_STORE16(lanes, p);
	saescope_vf16 inv = SAESCOPE_SPLAT(1.0f / saescope_sum16(lanes));
	for (int j = 0; j < width; j += 16) {
		SAESCOPE_LOAD16(x, row + j);
		x *= inv;
		SAESCOPE_STORE16(row + j, x);
	}
}

enum { SAESCOPE_ATTN_ROWS = 8 };

// The head's rows lie ld floats apart (9 KB in GPT-2 small), which maps
// them to a few of L1's sets: K and V are first copied into contiguous
// rows, K then transposed (and scaled) into kt, zero-padded to sp keys, so
// that Q·Kᵀ runs 32 keys at a time for 8 query rows: 16 sums in registers,
// two loads and eight broadcasts for every 16 multiply-adds. P·V runs 4
// rows by 64 dimensions: four loads and four broadcasts for 16.
void saescope_attention_head(const float* q, const float* k, const float* v, ptrdiff_t ld, float* out, ptrdiff_t ldo,
                             int seq, int dh, float scale, float* scratch) {
	enum { R = SAESCOPE_ATTN_ROWS };
	int sp = (seq + 31) & ~31;
	float* kt = scratch;                  // dh × sp
	float* vb = kt + (ptrdiff_t)dh * sp;  // seq × dh
	float* kc = vb + (ptrdiff_t)seq * dh; // seq × dh
	float* s = kc + (ptrdiff_t)seq * dh;  // R × sp
	float* qc = s + (ptrdiff_t)R * sp;    // R × dh
	for (int j = 0; j < seq; j++) {
		memcpy(kc + (ptrdiff_t)j * dh, k + (ptrdiff_t)j * ld, sizeof(float) * dh);
		memcpy(vb + (ptrdiff_t)j * dh, v + (ptrdiff_t)j * ld, sizeof(float) * dh);
	}
	for (int d = 0; d < dh; d++) {
		float* t = kt + (ptrdiff_t)d * sp;
		for (int j = 0; j < seq; j++) t[j] = kc[(ptrdiff_t)j * dh + d] * scale;
		for (int j = seq; j < sp; j++) t[j] = 0.0f;
	}
	for (int i0 = 0; i0 < seq; i0 += R) {
		int rows = seq - i0 < R ? seq - i0 : R;
		// R rows always (a short last block repeats its last row, not stored)
		for (int r = 0; r < R; r++)
			memcpy(qc + (ptrdiff_t)r * dh, q + (ptrdiff_t)(r < rows ? i0 + r : i0 + rows - 1) * ld, sizeof(float) * dh);
		int keys = i0 + rows;
		int width = (keys + 31) & ~31;
		for (int c = 0; c < width; c += 32) {
			saescope_vf16 a[R][2];
			for (int r = 0; r < R; r++) a[r][0] = a[r][1] = SAESCOPE_SPLAT(0.0f);
			const float* t = kt + c;
			for (int d = 0; d < dh; d++) {
				saescope_vf16 k0, k1;
				SAESCOPE_LOAD16(k0, t + (ptrdiff_t)d * sp);
				SAESCOPE_LOAD16(k1, t + (ptrdiff_t)d * sp + 16);
				for (int r = 0; r < R; r++) {
					float qv = qc[(ptrdiff_t)r * dh + d];
					a[r][0] += qv * k0;
					a[r][1] += qv * k1;
				}
			}
			for (int r = 0; r < R; r++) {
				SAESCOPE_STORE16(s + (ptrdiff_t)r * sp + c, a[r][0]);
				SAESCOPE_STORE16(s + (ptrdiff_t)r * sp + c + 16, a[r][1]);
			}
		}
		for (int r = 0; r < rows; r++) saescope_softmax_prefix(s + (ptrdiff_t)r * sp, i0 + r + 1, width);
		for (int r = rows; r < R; r++) memset(s + (ptrdiff_t)r * sp, 0, sizeof(float) * width);
		// out = P·V, 4 rows at a time over the keys the last of them sees
		// (P is zero past each row's own position)
		for (int h = 0; h < rows; h += 4) {
			int n4 = rows - h < 4 ? rows - h : 4;
			int kk = i0 + h + n4;
			const float* p = s + (ptrdiff_t)h * sp;
			int d0 = 0;
			for (; d0 + 64 <= dh; d0 += 64) {
				saescope_vf16 a[4][4];
				for (int r = 0; r < 4; r++)
					for (int x = 0; x < 4; x++) a[r][x] = SAESCOPE_SPLAT(0.0f);
				for (int j = 0; j < kk; j++) {
					saescope_vf16 vv[4];
					for (int x = 0; x < 4; x++) SAESCOPE_LOAD16(vv[x], vb + (ptrdiff_t)j * dh + d0 + 16 * x);
					for (int r = 0; r < 4; r++) {
						float pr = p[(ptrdiff_t)r * sp + j];
						for (int x = 0; x < 4; x++) a[r][x] += pr * vv[x];
					}
				}
				for (int r = 0; r < n4; r++)
					for (int x = 0; x < 4; x++) SAESCOPE_STORE16(out + (ptrdiff_t)(i0 + h + r) * ldo + d0 + 16 * x, a[r][x]);
			}
			for (; d0 + 16 <= dh; d0 += 16) {
				saescope_vf16 a[4];
				for (int r = 0; r < 4; r++) a[r] = SAESCOPE_SPLAT(0.0f);
				for (int j = 0; j < kk; j++) {
					saescope_vf16 vv;
					SAESCOPE_LOAD16(vv, vb + (ptrdiff_t)j * dh + d0);
					for (int r = 0; r < 4; r++) a[r] += p[(ptrdiff_t)r * sp + j] * vv;
				}
				for (int r = 0; r < n4; r++) SAESCOPE_STORE16(out + (ptrdiff_t)(i0 + h + r) * ldo + d0, a[r]);
			}
			for (; d0 < dh; d0++)
				for (int r = 0; r < n4; r++) {
					float a = 0;
					for (int j = 0; j < kk; j++) a += p[(ptrdiff_t)r * sp + j] * vb[(ptrdiff_t)j * dh + d0];
					out[(ptrdiff_t)(i0 + h + r) * ldo + d0] = a;
				}
		}
	}
}
#pragma GCC pop_options

int saescope_attention_supported(void) {
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
}
#else
int saescope_attention_supported(void) { return 0; }

void saescope_attention_head(const float* q, const float* k, const float* v, ptrdiff_t ld, float* out, ptrdiff_t ldo,
                             int seq, int dh, float scale, float* scratch) {
	(void)q, (void)k, (void)v, (void)ld, (void)out, (void)ldo, (void)seq, (void)dh, (void)scale, (void)scratch;
}
#endif

ptrdiff_t saescope_attention_scratch(int seq, int dh) {
	ptrdiff_t sp = (seq + 31) & ~31;
	return (ptrdiff_t)dh * sp + 2 * (ptrdiff_t)seq * dh + 8 * (sp + dh);
}
