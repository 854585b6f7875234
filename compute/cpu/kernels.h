// Elementwise kernels of the CPU backend, written in C so that the compiler
// vectorizes them (AVX-512, AVX2 or SSE2 chosen at run time on x86-64 Linux).
#ifndef SAESCOPE_KERNELS_H
#define SAESCOPE_KERNELS_H
#include <stddef.h>

// saescope_gelu_new applies gelu_new in place to x[0..n).
void saescope_gelu_new(float* x, ptrdiff_t n);

// saescope_bias_gelu_new sets each row of x to gelu_new(x + bias): the
// same arithmetic as saescope_add_bias, then saescope_gelu_new.
void saescope_bias_gelu_new(float* x, const float* bias, ptrdiff_t rows, int cols);

// saescope_add_bias adds bias to each row of x.
void saescope_add_bias(float* x, const float* bias, ptrdiff_t rows, int cols);

// saescope_causal_softmax turns each row i of a seq×seq score matrix into
// softmax over columns 0..i and zeroes columns i+1..seq-1.
void saescope_causal_softmax(float* s, int seq);

// saescope_exp_sums sets *mx to the maximum of x[0..n) (n > 0), *s to
// Σ exp(x[j] - mx) and, when t is not null, *t to Σ exp(x[j] - mx)·(x[j] - mx),
// the exponentials in float32, the sums in float64.
void saescope_exp_sums(const float* x, ptrdiff_t n, float* mx, double* s, double* t);
// saescope_layernorm writes LayerNorm(x)·w + b of each of rows rows of
// cols into out (which may be x).
void saescope_layernorm(const float* x, float* out, const float* w, const float* b, ptrdiff_t rows, int cols, float eps);

// saescope_center_rows subtracts from each row of x its mean.
void saescope_center_rows(float* x, ptrdiff_t rows, int cols);

// saescope_add_residual adds to resid each row of delta plus bias (when not
// null), centred over its columns when centre, and, when ln is not null,
// writes LayerNorm(resid)·w + b into ln: a write into the residual stream
// and the next LayerNorm in one pass over the rows, with the same
// arithmetic as saescope_add_bias, saescope_center_rows, an addition and
// saescope_layernorm one after another. delta is only read (writing its
// biased, centred rows back cost a quarter of the pass).
void saescope_add_residual(float* resid, const float* delta, const float* bias, int centre, float* ln, const float* w,
                           const float* b, ptrdiff_t rows, int cols, float eps);
// saescope_bias_relu sets each row of x to max(x + bias, 0) (bias may be
// null); NaN stays NaN, for the scan to report it.
void saescope_bias_relu(float* x, const float* bias, ptrdiff_t rows, int cols);

// saescope_attention_variant is the best attention kernel this CPU runs:
// 2 for AVX-512, 1 for AVX2 with FMA, 0 for none (other CPUs, or not
// x86-64 with GCC): the backend then computes attention through the BLAS.
int saescope_attention_variant(void);

// saescope_attention_scratch is the number of floats of scratch
// saescope_attention_head needs at seq positions and head size dh.
ptrdiff_t saescope_attention_scratch(int seq, int dh);

// saescope_attention_head writes one head's causal self-attention into
// out (rows ldo floats apart): softmax(q·kᵀ·scale, masked to j ≤ i)·v,
// where q, k and v are seq rows of dh floats, ld floats apart, each plus
// its bias bq, bk or bv (dh floats, or null for none), with the kernel
// variant (1 or 2, at most saescope_attention_variant's).
void saescope_attention_head(int variant, const float* q, const float* k, const float* v, ptrdiff_t ld,
                             const float* bq, const float* bk, const float* bv, float* out, ptrdiff_t ldo, int seq,
                             int dh, float scale, float* scratch);
#endif