// Kernels of the SAE Scope CUDA backend. They mirror, operation by
// operation, the CPU backend (compute/cpu) so that both give the same
// numbers to float32 rounding: same formulas, same accumulation types
// (float64 where the CPU accumulates in float64), accurate expf/log (no fast
// math).
//
// This file is compiled two ways:
//   - by nvcc into kernels.ptx (packaging/cuda/regen-ptx.sh), which the
//     cuda-tagged backend embeds and loads with cuModuleLoadData;
//   - as C++ by the kernel emulator (emu.cc, emu.h), which runs every
//     kernel on the CPU with one host thread per CUDA thread, so that the
//     kernels are tested in CI on machines without a GPU.
// To stay emulatable: block sizes are multiples of 32, every __syncthreads
// is reached by all threads of a block, every warp shuffle/ballot by all 32
// lanes of a warp, and no floating-point atomics are used (results are
// deterministic; topk_rows counts a histogram with integer atomicAdd on
// shared memory, whose result does not depend on the order of the adds).
//
// All kernels are extern "C" (unmangled names, looked up by the backend).
// The names and parameter lists are mirrored in compute/cuda/engine
// (device.go) and in the emulator's launch table (emu.cc).
// Integer parameters are int (32 bits) or long long; pointers are device
// pointers; the Go side passes each parameter in its own 64-bit slot.

#ifndef SAESCOPE_EMU
#define SC_DEV __device__ __forceinline__
#define KERNEL extern "C" __global__
#else
#define SC_DEV static inline
#define KERNEL static
#endif

#define FULL_MASK 0xffffffffu

// ---------------------------------------------------------------------------
// Reductions (warp shuffles, then one value per warp through shared memory).

template <typename T>
SC_DEV T warp_sum(T v) {
	for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
	return v;
}

template <typename T>
SC_DEV T warp_max(T v) {
	for (int o = 16; o > 0; o >>= 1) {
		T w = __shfl_xor_sync(FULL_MASK, v, o);
		v = w > v ? w : v;
	}
	return v;
}

// block_sum returns the sum of v over the block to every thread. sh holds
// at least 32 values. Safe to call repeatedly with the same sh.
template <typename T>
SC_DEV T block_sum(T v, T* sh) {
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
	v = warp_sum(v);
	__syncthreads(); // earlier readers of sh are done
	if (lane == 0) sh[w] = v;
	__syncthreads();
	if (w == 0) {
		T x = lane < nw ? sh[lane] : (T)0;
		x = warp_sum(x);
		if (lane == 0) sh[0] = x;
	}
	__syncthreads();
	return sh[0];
}

template <typename T>
SC_DEV T block_max(T v, T* sh) {
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
	v = warp_max(v);
	__syncthreads();
	if (lane == 0) sh[w] = v;
	__syncthreads();
	if (w == 0) {
		T x = lane < nw ? sh[lane] : sh[0];
		x = warp_max(x);
		if (lane == 0) sh[0] = x;
	}
	__syncthreads();
	return sh[0];
}

// ---------------------------------------------------------------------------
// Elementwise kernels (grid-stride loops over n elements).

// fill_rows sets every row of dst ([rows, cols]) to v ([cols]).
KERNEL void fill_rows(float* dst, const float* v, long long rows, int cols) {
	long long n = rows * cols;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
		dst[i] = v[i % cols];
}

// add sets dst = a + b (dst may alias a or b).
KERNEL void add(float* dst, const float* a, const float* b, long long n) {
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
		dst[i] = a[i] + b[i];
}

// sub_row sets dst = x - v, v broadcast over the rows of x ([rows, cols]).
KERNEL void sub_row(float* dst, const float* x, const float* v, long long rows, int cols) {
	long long n = rows * cols;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
		dst[i] = x[i] - v[i % cols];
}

// bias_relu sets x = max(x + bias, 0) (bias broadcast over rows; bias may be
// null). NaN stays NaN, as on the CPU.
KERNEL void bias_relu(float* x, const float* bias, long long rows, int cols) {
	long long n = rows * cols;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		float v = x[i];
		if (bias) v += bias[i % cols];
		x[i] = v < 0.0f ? 0.0f : v;
	}
}

// gelu1: gelu_new of one value, 0.5·v·(1 + tanh(u)), u = sqrt(2/pi)·(v +
// 0.044715·v³), written as v·sigmoid(2u) like the CPU kernel; shared by
// gelu_new and bias_gelu_new, whose bits must agree.
SC_DEV float gelu1(float v) {
	float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
	return v / (1.0f + expf(-2.0f * u));
}

// gelu_new applies gelu_new in place.
KERNEL void gelu_new(float* x, long long n) {
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
		x[i] = gelu1(x[i]);
}

// add_row adds v to every row of x ([rows, cols]): a product's bias, after
// the product (the arithmetic of add_residual's and bias_gelu_new's bias).
KERNEL void add_row(float* x, const float* v, long long rows, int cols) {
	long long n = rows * cols;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
		x[i] = x[i] + v[i % cols];
}

// bias_gelu_new sets x = gelu_new(x + bias), bias broadcast over rows: the
// bits of add_row, then gelu_new.
KERNEL void bias_gelu_new(float* x, const float* bias, long long rows, int cols) {
	long long n = rows * cols;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
		x[i] = gelu1(x[i] + bias[i % cols]);
}

// gather_rows sets dst[r] = table[ids[r]]; one block per row.
KERNEL void gather_rows(float* dst, const float* table, const int* ids, int rows, int cols) {
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		const float* src = table + (long long)ids[r] * cols;
		float* out = dst + (long long)r * cols;
		for (int j = threadIdx.x; j < cols; j += blockDim.x) out[j] = src[j];
	}
}

// ---------------------------------------------------------------------------
// Row kernels: one block per row (grid-stride over rows), block reductions.

// center_row subtracts from one row its mean, the block's threads taking
// every blockDim-th column; shared by center_rows and add_residual.
SC_DEV void center_row(float* row, int cols, float* sh) {
	float s = 0.0f;
	for (int j = threadIdx.x; j < cols; j += blockDim.x) s += row[j];
	float mean = block_sum(s, sh) / (float)cols;
	for (int j = threadIdx.x; j < cols; j += blockDim.x) row[j] -= mean;
}

// center_rows subtracts from each row its mean (in place).
KERNEL void center_rows(float* x, int rows, int cols) {
	__shared__ float sh[32];
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		center_row(x + (long long)r * cols, cols, sh);
		__syncthreads();
	}
}

// layernorm_row sets out = (in - mean)/sqrt(var + eps)·w + b for one row,
// the block's threads taking every blockDim-th column (two passes, biased
// variance, as the CPU); shared by layernorm and add_residual.
SC_DEV void layernorm_row(float* out, const float* in, const float* w, const float* b, int cols, float eps, float* sh) {
	float s = 0.0f;
	for (int j = threadIdx.x; j < cols; j += blockDim.x) s += in[j];
	float mean = block_sum(s, sh) / (float)cols;
	float q = 0.0f;
	for (int j = threadIdx.x; j < cols; j += blockDim.x) {
		float a = in[j] - mean;
		q += a * a;
	}
	float var = block_sum(q, sh) / (float)cols;
	float inv = (float)(1.0 / sqrt((double)(var + eps)));
	for (int j = threadIdx.x; j < cols; j += blockDim.x) out[j] = (in[j] - mean) * inv * w[j] + b[j];
}

// layernorm sets dst = LayerNorm(x)·w + b row by row.
KERNEL void layernorm(float* dst, const float* x, const float* w, const float* b, int rows, int cols, float eps) {
	__shared__ float sh[32];
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		layernorm_row(dst + (long long)r * cols, x + (long long)r * cols, w, b, cols, eps, sh);
		__syncthreads();
	}
}

// add_residual is a write into the residual stream and the next LayerNorm
// in one pass over each row (one block per row, the block size of
// center_rows and layernorm): bias (when not null) added to the row of
// delta, the row centred when centre, added to resid, and, when ln is not
// null, LayerNorm(resid)·w + b written into ln. Each thread takes the
// columns it takes in center_rows' and layernorm's launches and sums them
// in the same order (center_row, layernorm_row), and the additions are
// add_row's and add's, so the bits are those of the four kernels one after
// another.
KERNEL void add_residual(float* resid, float* delta, const float* bias, int centre, float* ln, const float* w,
                         const float* b, int rows, int cols, float eps) {
	__shared__ float sh[32];
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		float* d = delta + (long long)r * cols;
		float* x = resid + (long long)r * cols;
		if (bias)
			for (int j = threadIdx.x; j < cols; j += blockDim.x) d[j] = d[j] + bias[j];
		if (centre) center_row(d, cols, sh);
		for (int j = threadIdx.x; j < cols; j += blockDim.x) x[j] = x[j] + d[j];
		if (ln) {
			__syncthreads(); // every column of the row is written
			layernorm_row(ln + (long long)r * cols, x, w, b, cols, eps, sh);
		}
		__syncthreads();
	}
}

// mean_rows sets dst[c] to the mean over rows of x[:, c], accumulated in
// float64. Blocks of 256 threads own 32 columns each: lane = column, the 8
// warps take every 8th row, and warp 0 adds the 8 partial sums in order.
KERNEL void mean_rows(float* dst, const float* x, int rows, int cols) {
	__shared__ double part[8][32];
	int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;
	int c = blockIdx.x * 32 + tx;
	double acc = 0.0;
	if (c < cols)
		for (int r = ty; r < rows; r += 8) acc += (double)x[(long long)r * cols + c];
	part[ty][tx] = acc;
	__syncthreads();
	if (ty == 0 && c < cols) {
		double s = 0.0;
		for (int k = 0; k < 8; k++) s += part[k][tx];
		dst[c] = (float)(s / (double)rows);
	}
}

// row_exp_sums reduces one row over the block: its maximum m, and, with
// e = expf(x - m), s = Σ e and (when t is not null) t = Σ e·(x - m), the
// sums in float64 — the CPU's expSums (compute/cpu). Every thread gets the
// results.
SC_DEV void row_exp_sums(const float* row, int cols, float* shf, double* shd, float* m, double* s, double* t) {
	float mx = -INFINITY;
	for (int j = threadIdx.x; j < cols; j += blockDim.x) mx = row[j] > mx ? row[j] : mx;
	mx = block_max(mx, shf);
	double a = 0.0, b = 0.0;
	for (int j = threadIdx.x; j < cols; j += blockDim.x) {
		float d = row[j] - mx;
		double e = (double)expf(d);
		a += e;
		b += e * (double)d;
	}
	*m = mx;
	*s = block_sum(a, shd);
	if (t) *t = block_sum(b, shd);
}

// cross_entropy sets loss[r] = logsumexp(logits[r]) - logits[r][targets[r]].
KERNEL void cross_entropy(float* loss, const float* logits, const int* targets, int rows, int cols) {
	__shared__ float shf[32];
	__shared__ double shd[32];
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		const float* row = logits + (long long)r * cols;
		float mx;
		double s;
		row_exp_sums(row, cols, shf, shd, &mx, &s, 0);
		if (threadIdx.x == 0) {
			float lse = mx + (float)log(s);
			loss[r] = lse - row[targets[r]];
		}
		__syncthreads();
	}
}

// softmax_stats sets, per row of logits, the entropy in bits and the maximum
// probability of its softmax: log s - t/s nats and 1/s (see row_exp_sums),
// one exponential per logit, as the CPU.
KERNEL void softmax_stats(float* entropy_bits, float* max_prob, const float* logits, int rows, int cols) {
	__shared__ float shf[32];
	__shared__ double shd[32];
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		const float* row = logits + (long long)r * cols;
		float mx;
		double s, t;
		row_exp_sums(row, cols, shf, shd, &mx, &s, &t);
		if (threadIdx.x == 0) {
			entropy_bits[r] = (float)((log(s) - t / s) / 0.69314718055994530942);
			max_prob[r] = (float)(1.0 / s);
		}
		__syncthreads();
	}
}

// ---------------------------------------------------------------------------
// Causal self-attention, fused: scores, masked softmax and the value mix in
// one kernel, never materialising the [seq, seq] score matrix.
//
// qkv is [batch·seq, 3·d] (q, k, v blocks, heads contiguous inside each); z
// is [batch·seq, d]. Grid: x = batch·heads, y = query tiles of ATT_TQ rows;
// block: 128 threads (4 warps, ATT_TQ/4 query rows each). Keys are visited
// in chunks of 32 (one per lane) held in shared memory with the matching
// values; each warp keeps a running maximum, sum and output per query row
// (online softmax), which equals the CPU's max/exp/normalise to rounding.
#define ATT_TQ 16
#define ATT_KC 32
#define ATT_MAXDH 128
#define ATT_THREADS 128
#define ATT_RPW (ATT_TQ / (ATT_THREADS / 32))

KERNEL void attention(float* z, const float* qkv, int seq, int heads, int dh, float scale) {
	__shared__ float qs[ATT_TQ][ATT_MAXDH];
	__shared__ float ks[ATT_KC][ATT_MAXDH + 1];
	__shared__ float vs[ATT_KC][ATT_MAXDH];
	int bh = blockIdx.x;
	int b = bh / heads, h = bh % heads;
	int d = heads * dh, ld = 3 * d;
	const float* base = qkv + (long long)b * seq * ld + h * dh;
	int q0 = blockIdx.y * ATT_TQ;
	int nq = seq - q0 < ATT_TQ ? seq - q0 : ATT_TQ;
	for (int idx = threadIdx.x; idx < ATT_TQ * dh; idx += blockDim.x) {
		int r = idx / dh, c = idx % dh;
		qs[r][c] = r < nq ? base[(long long)(q0 + r) * ld + c] : 0.0f;
	}
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	float m[ATT_RPW], l[ATT_RPW], acc[ATT_RPW][ATT_MAXDH / 32];
	_Pragma("unroll") for (int rr = 0; rr < ATT_RPW; rr++) {
		m[rr] = -INFINITY;
		l[rr] = 0.0f;
		_Pragma("unroll") for (int t = 0; t < ATT_MAXDH / 32; t++) acc[rr][t] = 0.0f;
	}
	int kend = q0 + nq; // keys [0, kend) are visible to some row of the tile
	for (int k0 = 0; k0 < kend; k0 += ATT_KC) {
		int nk = kend - k0 < ATT_KC ? kend - k0 : ATT_KC;
		__syncthreads(); // the previous chunk is consumed (and qs is written)
		for (int idx = threadIdx.x; idx < ATT_KC * dh; idx += blockDim.x) {
			int r = idx / dh, c = idx % dh;
			float kv = 0.0f, vv = 0.0f;
			if (r < nk) {
				const float* row = base + (long long)(k0 + r) * ld + c;
				kv = row[d];
				vv = row[2 * d];
			}
			ks[r][c] = kv;
			vs[r][c] = vv;
		}
		__syncthreads();
		_Pragma("unroll") for (int rr = 0; rr < ATT_RPW; rr++) {
			int r = warp * ATT_RPW + rr; // warp-uniform
			int i = q0 + r;
			if (r >= nq || k0 > i) continue; // warp-uniform: no visible key here
			int j = k0 + lane;
			float s = -INFINITY;
			if (lane < nk && j <= i) {
				float dot = 0.0f;
				for (int c = 0; c < dh; c++) dot += qs[r][c] * ks[lane][c];
				s = dot * scale;
			}
			float cmax = warp_max(s); // finite: key k0 <= i is visible
			float mnew = m[rr] > cmax ? m[rr] : cmax;
			float corr = expf(m[rr] - mnew); // 0 on the first chunk
			float p = s == -INFINITY ? 0.0f : expf(s - mnew);
			l[rr] = l[rr] * corr + warp_sum(p);
			_Pragma("unroll") for (int t = 0; t < ATT_MAXDH / 32; t++) acc[rr][t] *= corr;
			for (int c = 0; c < nk; c++) {
				float pc = __shfl_sync(FULL_MASK, p, c);
				_Pragma("unroll") for (int t = 0; t < ATT_MAXDH / 32; t++) {
					int dd = lane + 32 * t;
					if (dd < dh) acc[rr][t] += pc * vs[c][dd];
				}
			}
			m[rr] = mnew;
		}
	}
	_Pragma("unroll") for (int rr = 0; rr < ATT_RPW; rr++) {
		int r = warp * ATT_RPW + rr;
		if (r >= nq) continue;
		float inv = 1.0f / l[rr];
		float* out = z + (long long)(b * seq + q0 + r) * d + h * dh;
		_Pragma("unroll") for (int t = 0; t < ATT_MAXDH / 32; t++) {
			int dd = lane + 32 * t;
			if (dd < dh) out[dd] = acc[rr][t] * inv;
		}
	}
}

// ---------------------------------------------------------------------------
// Sparse read-back for the scan: count, then compact, the positive entries
// of each row, so that only (id, value) pairs cross PCIe.

// count_positive sets counts[r] to the number of entries > 0 in row r.
KERNEL void count_positive(int* counts, const float* x, int rows, int cols) {
	__shared__ int sh[32];
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		const float* row = x + (long long)r * cols;
		int n = 0;
		for (int j = threadIdx.x; j < cols; j += blockDim.x) n += row[j] > 0.0f ? 1 : 0;
		n = block_sum(n, sh);
		if (threadIdx.x == 0) counts[r] = n;
	}
}

// compact_positive writes the positive entries of row r, in column order,
// to ids/vals starting at offsets[r] (exclusive prefix sum of the counts).
KERNEL void compact_positive(unsigned int* ids, float* vals, const float* x, const unsigned long long* offsets, int rows, int cols) {
	__shared__ int wsum[32];
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		const float* row = x + (long long)r * cols;
		unsigned long long base = offsets[r];
		for (int c0 = 0; c0 < cols; c0 += blockDim.x) {
			int c = c0 + threadIdx.x;
			float v = c < cols ? row[c] : 0.0f;
			int f = v > 0.0f;
			unsigned int mask = __ballot_sync(FULL_MASK, f);
			int before_in_warp = __popc(mask & ((1u << lane) - 1u));
			__syncthreads(); // earlier readers of wsum are done
			if (lane == 0) wsum[w] = __popc(mask);
			__syncthreads();
			int before = 0, total = 0;
			for (int k = 0; k < nw; k++) {
				int s = wsum[k];
				before += k < w ? s : 0;
				total += s;
			}
			if (f) {
				unsigned long long o = base + before + before_in_warp;
				ids[o] = (unsigned int)c;
				vals[o] = v;
			}
			base += total;
		}
	}
}

// row_sumsq sets out[r] = Σ_j x[r][j]² in float64.
KERNEL void row_sumsq(double* out, const float* x, int rows, int cols) {
	__shared__ double sh[32];
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		const float* row = x + (long long)r * cols;
		double s = 0.0;
		for (int j = threadIdx.x; j < cols; j += blockDim.x) s += (double)row[j] * (double)row[j];
		s = block_sum(s, sh);
		if (threadIdx.x == 0) out[r] = s;
	}
}

// ---------------------------------------------------------------------------
// SAE families (compute.FamilyOps): the activation steps after the
// encoder's matrix product and the input normalisations, on the device, so
// that nothing goes back to the host between a scan's matrix products.
// They mirror compute/encoder/family.go.

// topk_key orders entries for topk_rows: the bits of a positive float
// (which order like its value), 0 for the rest. Entries <= 0 come out 0
// whether kept or not, so ranking them all equal changes no output.
SC_DEV unsigned int topk_key(float v) { return v > 0.0f ? __float_as_uint(v) : 0u; }

#define TOPK_BINS 256

// topk_rows keeps, in each row of x ([rows, cols]), the k largest entries
// through ReLU and zeroes the others, in place; among entries equal to the
// k-th largest value the lower columns are kept (compute/encoder's topK).
// One block per row. A radix select finds the k-th largest key T one byte
// at a time, most significant first: a shared-memory histogram of the keys
// whose higher bytes equal those already fixed, then thread 0 walks it down
// to the bin holding the k-th. It stops early once every key of that bin is
// kept (then kept = key's fixed bytes >= the prefix); otherwise T is exact
// after four passes and the last pass keeps key > T and, of the keys equal
// to T, the first `rem` in column order (a ballot scan, as
// compact_positive), or all of them when T is 0 (they come out 0 anyway).
KERNEL void topk_rows(float* x, int rows, int cols, int k) {
	__shared__ int hist[TOPK_BINS];
	__shared__ unsigned int sel[3]; // prefix, rank left in the bin, bin count
	__shared__ int wsum[32];
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		float* row = x + (long long)r * cols;
		if (k <= 0 || k >= cols) { // nothing to select: zero or ReLU
			for (int j = threadIdx.x; j < cols; j += blockDim.x) {
				float v = row[j];
				row[j] = k <= 0 || v < 0.0f ? 0.0f : v;
			}
			continue; // uniform over the block
		}
		unsigned int prefix = 0, mask = 0;
		int rem = k, inBin = 0;
		for (int shift = 24; shift >= 0; shift -= 8) {
			for (int b = threadIdx.x; b < TOPK_BINS; b += blockDim.x) hist[b] = 0;
			__syncthreads(); // hist is zero (and the last readers of sel are done)
			for (int j = threadIdx.x; j < cols; j += blockDim.x) {
				unsigned int key = topk_key(row[j]);
				if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1);
			}
			__syncthreads();
			if (threadIdx.x == 0) {
				int left = rem, d = TOPK_BINS - 1;
				for (; d > 0; d--) {
					if (hist[d] >= left) break;
					left -= hist[d];
				}
				sel[0] = prefix | ((unsigned int)d << shift);
				sel[1] = (unsigned int)left;
				sel[2] = (unsigned int)hist[d];
			}
			__syncthreads();
			prefix = sel[0];
			rem = (int)sel[1];
			inBin = (int)sel[2];
			mask |= 255u << shift;
			if (inBin == rem) break; // the whole bin is kept: uniform over the block
		}
		if (inBin == rem || prefix == 0) {
			// kept: fixed bytes above the prefix, or equal to it (every key
			// of the bin is kept, or T = 0 and only zeros tie)
			for (int j = threadIdx.x; j < cols; j += blockDim.x) {
				float v = row[j];
				unsigned int key = topk_key(v);
				row[j] = key != 0u && (key & mask) >= prefix ? v : 0.0f;
			}
			__syncthreads(); // sel and hist are read before the next row rewrites them
			continue;
		}
		// T = prefix > 0 exactly, and only rem of its inBin copies are kept.
		unsigned int T = prefix;
		int seen = 0; // keys equal to T in earlier chunks
		int c0 = 0;
		for (; c0 < cols && seen < rem; c0 += blockDim.x) { // seen is uniform
			int c = c0 + threadIdx.x;
			float v = c < cols ? row[c] : 0.0f;
			unsigned int key = topk_key(v);
			int f = key == T;
			unsigned int m = __ballot_sync(FULL_MASK, f);
			int before_in_warp = __popc(m & ((1u << lane) - 1u));
			__syncthreads(); // earlier readers of wsum are done
			if (lane == 0) wsum[w] = __popc(m);
			__syncthreads();
			int before = 0, total = 0;
			for (int q = 0; q < nw; q++) {
				int s = wsum[q];
				before += q < w ? s : 0;
				total += s;
			}
			if (c < cols) row[c] = key > T || (f && seen + before + before_in_warp < rem) ? v : 0.0f;
			seen += total;
		}
		for (int j = c0 + threadIdx.x; j < cols; j += blockDim.x) { // every tie kept is behind
			float v = row[j];
			row[j] = topk_key(v) > T ? v : 0.0f;
		}
		__syncthreads();
	}
}

// jump_relu sets x = x where x > threshold (broadcast over rows) and x > 0,
// else 0.
KERNEL void jump_relu(float* x, const float* threshold, long long rows, int cols) {
	long long n = rows * cols;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		float v = x[i];
		x[i] = v > threshold[i % cols] && v > 0.0f ? v : 0.0f;
	}
}

// gate sets mag = max(mag, 0) where gate > 0, else 0 (NaN magnitudes stay
// NaN, as on the CPU).
KERNEL void gate(float* mag, const float* g, long long n) {
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		float v = mag[i];
		mag[i] = g[i] > 0.0f ? (v < 0.0f ? 0.0f : v) : 0.0f;
	}
}

#define NORM_LAYER 1   // compute.RowLayerNorm
#define NORM_RESCALE 2 // compute.RowRescale

// normalize_rows sets dst = (x - shift)·scale row by row and stats[r] =
// (shift, scale), in float64 as compute/encoder's normalize: mode
// NORM_LAYER, shift = mean, scale = 1/(unbiased std + eps); NORM_RESCALE,
// shift 0, scale = sqrt(cols)/‖x‖ (1 for a zero row); any other mode,
// shift 0, scale 1. dst may be x. One block per row.
KERNEL void normalize_rows(float* dst, float* stats, const float* x, int rows, int cols, int mode, float eps) {
	__shared__ double sh[32];
	for (int r = blockIdx.x; r < rows; r += gridDim.x) {
		const float* in = x + (long long)r * cols;
		float* out = dst + (long long)r * cols;
		double shift = 0.0, scale = 1.0;
		if (mode == NORM_LAYER) {
			double s = 0.0;
			for (int j = threadIdx.x; j < cols; j += blockDim.x) s += (double)in[j];
			shift = block_sum(s, sh) / (double)cols;
			double q = 0.0;
			for (int j = threadIdx.x; j < cols; j += blockDim.x) {
				double c = (double)in[j] - shift;
				q += c * c;
			}
			q = block_sum(q, sh);
			double sd = cols > 1 ? sqrt(q / (double)(cols - 1)) : 0.0;
			scale = 1.0 / (sd + (double)eps);
		} else if (mode == NORM_RESCALE) {
			double q = 0.0;
			for (int j = threadIdx.x; j < cols; j += blockDim.x) q += (double)in[j] * (double)in[j];
			q = block_sum(q, sh);
			if (q > 0.0) scale = sqrt((double)cols) / sqrt(q);
		}
		for (int j = threadIdx.x; j < cols; j += blockDim.x) out[j] = (float)(((double)in[j] - shift) * scale);
		if (threadIdx.x == 0) {
			stats[2LL * r] = (float)shift;
			stats[2LL * r + 1] = (float)scale;
		}
		__syncthreads();
	}
}

// denormalize_rows undoes normalize_rows on x ([rows, cols]) with its
// stats: x = x/scale + shift, in float64.
KERNEL void denormalize_rows(float* x, const float* stats, long long rows, int cols) {
	long long n = rows * cols;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		long long r = i / cols;
		x[i] = (float)((double)x[i] / (double)stats[2 * r + 1] + (double)stats[2 * r]);
	}
}
