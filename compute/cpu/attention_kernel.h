// The CPU backend's attention kernel, included by kernels.c once per
// instruction set, under that set's target pragma, so that its vector
// types are the set's own registers. Before each inclusion kernels.c
// defines SAESCOPE_ATTN(name), naming the variant's functions and types,
// SAESCOPE_VL, the floats of one register (16 for AVX-512, 8 for AVX2), and
// the blocking, sized to the set's registers: SAESCOPE_QK_ROWS (4 or 8)
// query rows by SAESCOPE_QK_VECS registers of keys, SAESCOPE_AV_VECS
// registers of dimensions (with SAESCOPE_VL·SAESCOPE_QK_VECS dividing 32);
// it undefines them at its end. Not a header of its own: it uses
// kernels.c's SAESCOPE_EXP_* arithmetic and SAESCOPE_ATTN_MAX_ROWS.

_Static_assert(SAESCOPE_QK_ROWS == 4 || SAESCOPE_QK_ROWS == SAESCOPE_ATTN_MAX_ROWS,
               "P·V takes the score rows four at a time, from a scratch sized for SAESCOPE_ATTN_MAX_ROWS");
_Static_assert(32 % (SAESCOPE_VL * SAESCOPE_QK_VECS) == 0, "the keys are padded to a multiple of 32");

typedef float SAESCOPE_ATTN(saescope_vf) __attribute__((vector_size(4 * SAESCOPE_VL)));
typedef int SAESCOPE_ATTN(saescope_vi) __attribute__((vector_size(4 * SAESCOPE_VL)));
#define VF SAESCOPE_ATTN(saescope_vf)
#define VI SAESCOPE_ATTN(saescope_vi)
#define VL SAESCOPE_VL
#define LOADV(v, p) memcpy(&(v), (p), sizeof(VF))
#define STOREV(p, v) memcpy((p), &(v), sizeof(VF))
#define SELECT(mask, a, b) ((VF)(((mask) & (VI)(a)) | (~(mask) & (VI)(b))))
#define SPLAT(c) ((VF){0} + (c))

// exp of VL floats: saescope_expf's arithmetic, the rounding to the nearest
// integer by adding and subtracting 1.5·2^23.
static inline VF SAESCOPE_ATTN(saescope_expv)(VF x) {
	x = SELECT(x < SPLAT(SAESCOPE_EXP_MIN), SPLAT(SAESCOPE_EXP_MIN), x);
	x = SELECT(x > SPLAT(SAESCOPE_EXP_MAX), SPLAT(SAESCOPE_EXP_MAX), x);
	VF n = (x * SAESCOPE_LOG2E + 12582912.0f) - 12582912.0f;
	VF r = SAESCOPE_EXP_REDUCE(x, n);
	VF e = SAESCOPE_EXP_POLY(r);
	VI bits = (__builtin_convertvector(n, VI) + 127) << 23;
	return e * (VF)bits;
}

// The largest of and the sum of VL partial results, as trees in registers
// (a chain took most of a short row's softmax; a tree through memory, a
// tenth of the kernel): at each step lane k takes lane k + w (w = VL/2 …
// 1), so the sum is the same tree, to the bit, whatever VL.
#if SAESCOPE_VL == 16
#define SAESCOPE_SWAP8(v) __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)
#define SAESCOPE_SWAP4(v) __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11)
#define SAESCOPE_SWAP2(v) __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13)
#define SAESCOPE_SWAP1(v) __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14)
#elif SAESCOPE_VL == 8
#define SAESCOPE_SWAP4(v) __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3)
#define SAESCOPE_SWAP2(v) __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5)
#define SAESCOPE_SWAP1(v) __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6)
#else
#error "SAESCOPE_VL must be 8 or 16"
#endif
static inline float SAESCOPE_ATTN(saescope_maxv)(VF m) {
#if SAESCOPE_VL == 16
	m = SELECT(m > SAESCOPE_SWAP8(m), m, SAESCOPE_SWAP8(m));
#endif
	m = SELECT(m > SAESCOPE_SWAP4(m), m, SAESCOPE_SWAP4(m));
	m = SELECT(m > SAESCOPE_SWAP2(m), m, SAESCOPE_SWAP2(m));
	m = SELECT(m > SAESCOPE_SWAP1(m), m, SAESCOPE_SWAP1(m));
	return m[0];
}
static inline float SAESCOPE_ATTN(saescope_sumv)(VF p) {
#if SAESCOPE_VL == 16
	p += SAESCOPE_SWAP8(p);
#endif
	p += SAESCOPE_SWAP4(p);
	p += SAESCOPE_SWAP2(p);
	p += SAESCOPE_SWAP1(p);
	return p[0];
}
#undef SAESCOPE_SWAP8
#undef SAESCOPE_SWAP4
#undef SAESCOPE_SWAP2
#undef SAESCOPE_SWAP1

// softmax of row[0..n), row[n..width) zeroed (width a multiple of VL, at
// least n).
static inline void SAESCOPE_ATTN(saescope_softmax_prefix)(float* row, int n, int width) {
	VI lane;
	for (int k = 0; k < VL; k++) lane[k] = k;
	VF m, x;
	LOADV(m, row);
	m = SELECT(lane < n, m, SPLAT(row[0]));
	for (int j = VL; j < width; j += VL) {
		LOADV(x, row + j);
		VI take = (lane + j < n) & (x > m);
		m = SELECT(take, x, m);
	}
	VF mx = SPLAT(SAESCOPE_ATTN(saescope_maxv)(m)), p = SPLAT(0.0f);
	for (int j = 0; j < width; j += VL) {
		LOADV(x, row + j);
		x = SAESCOPE_ATTN(saescope_expv)(x - mx);
		x = SELECT(lane + j < n, x, SPLAT(0.0f));
		p += x;
		STOREV(row + j, x);
	}
	VF inv = SPLAT(1.0f / SAESCOPE_ATTN(saescope_sumv)(p));
	for (int j = 0; j < width; j += VL) {
		LOADV(x, row + j);
		x *= inv;
		STOREV(row + j, x);
	}
}

// One round of saescope_transpose_scaled's transposition of the VL×VL
// block in r[]: each row a whose bit w is clear and row a + w trade blocks
// of w lanes, a keeping its first block of each pair of blocks and taking
// b's first, b taking a's second and keeping its own (lo and hi:
// __builtin_shufflevector's lane indices, a's lanes 0..VL-1, b's VL..).
// After the rounds w = VL/2, …, 2, 1, r[i] holds column i.
#define SAESCOPE_UNPAREN(...) __VA_ARGS__
#define SAESCOPE_TSTAGE(w, lo, hi) \
	for (int a = 0; a < VL; a++) \
		if (!(a & (w))) { \
			VF x = r[a], y = r[a + (w)]; \
			r[a] = __builtin_shufflevector(x, y, SAESCOPE_UNPAREN lo); \
			r[a + (w)] = __builtin_shufflevector(x, y, SAESCOPE_UNPAREN hi); \
		}

// kt[d·sp + j] = kc[j·dh + d]·scale for j < seq, 0 for seq ≤ j < sp (a
// multiple of VL): whole VL×VL blocks transposed in registers by log2(VL)
// rounds of two-register shuffles (one value at a time, this took 7% of
// a GPT-2 head's time), the edges one value at a time.
static inline void SAESCOPE_ATTN(saescope_transpose_scaled)(float* kt, int sp, const float* kc, int seq, int dh,
                                                          float scale) {
	int dv = dh / VL * VL, jv = seq / VL * VL; // the whole blocks
	for (int d0 = 0; d0 < dv; d0 += VL)
		for (int j0 = 0; j0 < jv; j0 += VL) {
			VF r[VL];
			for (int i = 0; i < VL; i++) LOADV(r[i], kc + (ptrdiff_t)(j0 + i) * dh + d0);
#if SAESCOPE_VL == 16
			SAESCOPE_TSTAGE(8, (0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), (8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31))
			SAESCOPE_TSTAGE(4, (0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27), (4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31))
			SAESCOPE_TSTAGE(2, (0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29), (2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31))
			SAESCOPE_TSTAGE(1, (0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30), (1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31))
#else
			SAESCOPE_TSTAGE(4, (0, 1, 2, 3, 8, 9, 10, 11), (4, 5, 6, 7, 12, 13, 14, 15))
			SAESCOPE_TSTAGE(2, (0, 1, 8, 9, 4, 5, 12, 13), (2, 3, 10, 11, 6, 7, 14, 15))
			SAESCOPE_TSTAGE(1, (0, 8, 2, 10, 4, 12, 6, 14), (1, 9, 3, 11, 5, 13, 7, 15))
#endif
			for (int i = 0; i < VL; i++) {
				VF x = r[i] * scale;
				STOREV(kt + (ptrdiff_t)(d0 + i) * sp + j0, x);
			}
		}
	// the rest: the last keys of the blocks' dimensions, every key of the
	// other dimensions, and the padding
	for (int d = 0; d < dh; d++) {
		for (int j = d < dv ? jv : 0; j < seq; j++) kt[(ptrdiff_t)d * sp + j] = kc[(ptrdiff_t)j * dh + d] * scale;
		for (int j = seq; j < sp; j++) kt[(ptrdiff_t)d * sp + j] = 0.0f;
	}
}

// The scores of R query rows (qr, dh floats each) against vecs registers
// of keys (vecs at most SAESCOPE_QK_VECS; a constant where it is inlined,
// so the loops over it unroll and the sums stay in registers): out[r·sp +
// k] = Σ_d qr[r][d]·kt[d·sp + k], k < vecs·VL.
static inline void SAESCOPE_ATTN(saescope_qk_chunk)(float* out, int sp, const float* kt, const float* const* qr, int dh,
                                                   int vecs) {
	enum { R = SAESCOPE_QK_ROWS };
	VF a[R][SAESCOPE_QK_VECS];
	for (int r = 0; r < R; r++)
		for (int x = 0; x < vecs; x++) a[r][x] = SPLAT(0.0f);
	for (int d = 0; d < dh; d++) {
		VF kv[SAESCOPE_QK_VECS];
		for (int x = 0; x < vecs; x++) LOADV(kv[x], kt + (ptrdiff_t)d * sp + VL * x);
		for (int r = 0; r < R; r++) {
			float qv = qr[r][d];
			for (int x = 0; x < vecs; x++) a[r][x] += qv * kv[x];
		}
	}
	for (int r = 0; r < R; r++)
		for (int x = 0; x < vecs; x++) STOREV(out + (ptrdiff_t)r * sp + VL * x, a[r][x]);
}

// dst[0..n) = src[0..n) + bias[0..n), or a copy when bias is null: the
// float32 sums MatMul's bias pass makes, so the attention is the same to
// the bit whichever adds the bias.
static inline void SAESCOPE_ATTN(saescope_copy_bias)(float* dst, const float* src, const float* bias, int n) {
	if (!bias) {
		memcpy(dst, src, sizeof(float) * n);
		return;
	}
	for (int i = 0; i < n; i++) dst[i] = src[i] + bias[i];
}

// One head's causal self-attention. The head's rows lie ld floats apart
// (9 KB in GPT-2 small), which maps them to a few of L1's sets: Q, K and V
// are first copied into contiguous rows, in one pass that prefetches the
// rows ahead (Q copied later, a block of rows at a time, waited for memory
// again: an eighth of the kernel's time), K then transposed (and scaled)
// into kt, zero-padded to sp keys. Q·Kᵀ runs SAESCOPE_QK_ROWS query rows by
// SAESCOPE_QK_VECS registers of keys, the sums in registers (AVX-512: 8
// rows × 32 keys, two loads and eight broadcasts for every 16
// multiply-adds); then each row's softmax; P·V runs 4 rows by
// SAESCOPE_AV_VECS registers of dimensions (AVX-512: 64) over the keys the
// last of them sees (P is zero past each row's own position). bq, bk and
// bv (each null or dh floats) are added to q, k and v as they are copied.
static void SAESCOPE_ATTN(saescope_attention_head)(const float* q, const float* k, const float* v, ptrdiff_t ld,
                                                   const float* bq, const float* bk, const float* bv, float* out,
                                                   ptrdiff_t ldo, int seq, int dh, float scale, float* scratch) {
	enum { R = SAESCOPE_QK_ROWS, QK = VL * SAESCOPE_QK_VECS, AV = VL * SAESCOPE_AV_VECS };
	int sp = (seq + 31) & ~31;            // a multiple of QK
	float* kt = scratch;                  // dh × sp
	float* vb = kt + (ptrdiff_t)dh * sp;  // seq × dh
	float* kc = vb + (ptrdiff_t)seq * dh; // seq × dh
	float* s = kc + (ptrdiff_t)seq * dh;  // R × sp
	float* qb = s + (ptrdiff_t)R * sp;    // seq × dh
	for (int j = 0; j < seq; j++) {
		if (j + SAESCOPE_ATTN_PREFETCH < seq) {
			ptrdiff_t o = (ptrdiff_t)(j + SAESCOPE_ATTN_PREFETCH) * ld;
			for (int c = 0; c < dh; c += 16) { // a 64-byte line each
				__builtin_prefetch(q + o + c);
				__builtin_prefetch(k + o + c);
				__builtin_prefetch(v + o + c);
			}
		}
		SAESCOPE_ATTN(saescope_copy_bias)(qb + (ptrdiff_t)j * dh, q + (ptrdiff_t)j * ld, bq, dh);
		SAESCOPE_ATTN(saescope_copy_bias)(kc + (ptrdiff_t)j * dh, k + (ptrdiff_t)j * ld, bk, dh);
		SAESCOPE_ATTN(saescope_copy_bias)(vb + (ptrdiff_t)j * dh, v + (ptrdiff_t)j * ld, bv, dh);
	}
	SAESCOPE_ATTN(saescope_transpose_scaled)(kt, sp, kc, seq, dh, scale);
	for (int i0 = 0; i0 < seq; i0 += R) {
		int rows = seq - i0 < R ? seq - i0 : R;
		// R rows always (a short last block repeats its last row, not stored)
		const float* qr[R];
		for (int r = 0; r < R; r++) qr[r] = qb + (ptrdiff_t)(r < rows ? i0 + r : i0 + rows - 1) * dh;
		int keys = i0 + rows;
		// the keys to whole registers: whole chunks of QK, then the last
		// register or two one at a time (rounding to QK computed and
		// exponentiated a sixth more scores than the rows see)
		int width = (keys + VL - 1) / VL * VL;
		int c = 0;
		for (; c + QK <= width; c += QK) SAESCOPE_ATTN(saescope_qk_chunk)(s + c, sp, kt + c, qr, dh, SAESCOPE_QK_VECS);
		for (; c < width; c += VL) SAESCOPE_ATTN(saescope_qk_chunk)(s + c, sp, kt + c, qr, dh, 1);
		for (int r = 0; r < rows; r++) SAESCOPE_ATTN(saescope_softmax_prefix)(s + (ptrdiff_t)r * sp, i0 + r + 1, width);
		for (int r = rows; r < R; r++) memset(s + (ptrdiff_t)r * sp, 0, sizeof(float) * width);
		for (int h = 0; h < rows; h += 4) {
			int n4 = rows - h < 4 ? rows - h : 4;
			int kk = i0 + h + n4;
			const float* p = s + (ptrdiff_t)h * sp;
			int d0 = 0;
			for (; d0 + AV <= dh; d0 += AV) {
				VF a[4][SAESCOPE_AV_VECS];
				for (int r = 0; r < 4; r++)
					for (int x = 0; x < SAESCOPE_AV_VECS; x++) a[r][x] = SPLAT(0.0f);
				for (int j = 0; j < kk; j++) {
					VF vv[SAESCOPE_AV_VECS];
					for (int x = 0; x < SAESCOPE_AV_VECS; x++) LOADV(vv[x], vb + (ptrdiff_t)j * dh + d0 + VL * x);
					for (int r = 0; r < 4; r++) {
						float pr = p[(ptrdiff_t)r * sp + j];
						for (int x = 0; x < SAESCOPE_AV_VECS; x++) a[r][x] += pr * vv[x];
					}
				}
				for (int r = 0; r < n4; r++)
					for (int x = 0; x < SAESCOPE_AV_VECS; x++) STOREV(out + (ptrdiff_t)(i0 + h + r) * ldo + d0 + VL * x, a[r][x]);
			}
			for (; d0 + VL <= dh; d0 += VL) {
				VF a[4];
				for (int r = 0; r < 4; r++) a[r] = SPLAT(0.0f);
				for (int j = 0; j < kk; j++) {
					VF vv;
					LOADV(vv, vb + (ptrdiff_t)j * dh + d0);
					for (int r = 0; r < 4; r++) a[r] += p[(ptrdiff_t)r * sp + j] * vv;
				}
				for (int r = 0; r < n4; r++) STOREV(out + (ptrdiff_t)(i0 + h + r) * ldo + d0, a[r]);
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

#undef VF
#undef VI
#undef VL
#undef LOADV
#undef STOREV
#undef SELECT
#undef SPLAT
#undef SAESCOPE_UNPAREN
#undef SAESCOPE_TSTAGE
// the variant's parameters, for the next inclusion
#undef SAESCOPE_ATTN
#undef SAESCOPE_VL
#undef SAESCOPE_QK_ROWS
#undef SAESCOPE_QK_VECS
#undef SAESCOPE_AV_VECS
