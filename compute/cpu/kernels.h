// Elementwise kernels of the CPU backend, written in C so that the compiler
// vectorizes them (AVX-512, AVX2 or SSE2 chosen at run time on x86-64 Linux).
#ifndef SAESCOPE_KERNELS_H
#define SAESCOPE_KERNELS_H
#include <stddef.h>

// saescope_gelu_new applies gelu_new in place to x[0..n).
void saescope_gelu_new(float* x, ptrdiff_t n);

// saescope_causal_softmax turns each row i of a seq×seq score matrix into
// softmax over columns 0..i and zeroes columns i+1..seq-1.
void saescope_causal_softmax(float* s, int seq);
#endif
