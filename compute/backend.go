// Package compute runs GPT-2 and sparse autoencoders. This file defines the
// Backend interface: the few primitives the model needs, implemented on the
// CPU (package compute/cpu, gorgonia.org/tensor storage and a BLAS) and,
// behind the cuda build tag, on an NVIDIA GPU.
//
// Every tensor is a row-major matrix [rows, cols] owned by its backend; a
// vector is a [1, n] matrix. Operations never allocate their outputs: the
// caller passes dst, so that buffers are reused across batches.
package compute

import (
	"fmt"

	"github.com/saescope/saescope/weights"
)

// Tensor is a matrix that lives on a Backend (host or device memory).
type Tensor interface {
	// Rows and Cols give the matrix shape.
	Rows() int
	Cols() int
}

// Backend holds the primitives of a GPT-2 + SAE forward pass.
type Backend interface {
	// Name identifies the backend ("cpu/openblas", "cpu/gonum", "cuda").
	Name() string

	// Alloc returns a zeroed rows×cols tensor.
	Alloc(rows, cols int) Tensor
	// Upload copies (or, on the CPU, aliases read-only) a weight tensor; 1-D
	// tensors become [1, n] and 2-D keep their shape.
	Upload(w weights.Tensor) (Tensor, error)
	// Read copies t into dst (len rows·cols).
	Read(t Tensor, dst []float32)
	// Write copies src (len rows·cols) into t.
	Write(t Tensor, src []float32)
	// RowsView returns rows [lo, hi) of t without copying.
	RowsView(t Tensor, lo, hi int) Tensor
	// Free releases t's memory; t must not be used afterwards.
	Free(t Tensor)

	// Gather sets dst[i] = table[ids[i]] for each row i.
	Gather(dst, table Tensor, ids []int32)
	// MatMul sets dst = a·b (+ bias broadcast over rows, when bias != nil).
	MatMul(dst, a, b, bias Tensor)
	// MatMulTransB sets dst = a·bᵀ.
	MatMulTransB(dst, a, b Tensor)
	// Add sets dst = a + b elementwise (dst may alias a or b).
	Add(dst, a, b Tensor)
	// Copy sets dst = src.
	Copy(dst, src Tensor)
	// Fill sets every element of t to v.
	Fill(t Tensor, v float32)
	// FillRows sets every row of dst to the single row of v ([1, cols]).
	FillRows(dst, v Tensor)
	// MeanRows sets dst ([1, cols]) to the mean of x's rows.
	MeanRows(dst, x Tensor)
	// CenterRows subtracts from each row of x its own mean (in place).
	CenterRows(x Tensor)
	// LayerNorm sets dst = (x - mean)/sqrt(var + eps) · w + b, row by row.
	LayerNorm(dst, x, w, b Tensor, eps float32)
	// GeluNew applies the tanh approximation of GELU in place.
	GeluNew(x Tensor)
	// CausalAttention reads qkv ([batch·seq, 3·d]: q, k, v blocks, heads
	// contiguous inside each) and writes the heads' mixed values z
	// ([batch·seq, d]) with a causal mask and 1/sqrt(d_head) scaling.
	CausalAttention(dst, qkv Tensor, batch, seq, heads int)
	// SAEEncode sets dst = relu((x - bDec)·wEnc + bEnc); bDec may be nil
	// for SAEs that do not subtract it.
	SAEEncode(dst, x, wEnc, bEnc, bDec Tensor)
	// CrossEntropy sets loss[i] = logsumexp(logits[i]) - logits[i][targets[i]].
	CrossEntropy(loss []float32, logits Tensor, targets []int32)
	// SoftmaxStats sets, for each row of logits, the entropy (bits) and the
	// maximum probability of its softmax.
	SoftmaxStats(entropyBits, maxProb []float32, logits Tensor)
}

// HostData is implemented by backends whose tensors live in host memory
// (the CPU): it returns t's row-major values without copying, so that
// host-side passes over large results skip a copy.
type HostData interface {
	HostData(t Tensor) []float32
}

// ResidualAdder is implemented by backends with a fused kernel for the
// elementwise work between a block's matrix products, which the model
// uses where no hook needs the values in between (the CPU backend: one pass
// over the rows instead of four). Its results are those of MatMul's bias,
// CenterRows, Add and LayerNorm one after another, to the bit.
type ResidualAdder interface {
	// AddResidual adds to resid each row of delta (the output of a
	// MatMul made without bias) plus bias when not nil, centred over its
	// columns when centre, and, when ln is not nil, sets ln =
	// LayerNorm(resid)·w + lnBias. Afterwards delta holds either what it
	// held or those biased, centred rows, as the backend finds cheaper
	// (the CPU leaves it, the CUDA kernel writes them): callers use it as
	// scratch.
	AddResidual(resid, delta, bias Tensor, centre bool, ln, w, lnBias Tensor, eps float32)
}

// BiasGeluer is implemented by backends that add a product's bias and
// apply gelu_new in one pass (the CPU backend), which the model uses on
// the MLP's first product, made without its bias. Its results are those
// of MatMul's bias, then GeluNew, to the bit.
type BiasGeluer interface {
	// BiasGeluNew sets x to gelu_new(x + bias), bias broadcast over rows.
	BiasGeluNew(x, bias Tensor)
}

// BiasAttender is implemented by backends whose causal attention can add
// the qkv product's bias as it reads q, k and v (the CPU backend's kernel
// copies each head's rows anyway), which the model uses where its own
// attention runs on the product, made without its bias, and nothing else
// reads it. Its results are those of MatMul's bias, then CausalAttention,
// to the bit; qkv is left with or without the bias.
type BiasAttender interface {
	// CausalAttentionBias is CausalAttention of qkv plus bias (3·d_model
	// values, broadcast over rows).
	CausalAttentionBias(dst, qkv, bias Tensor, batch, seq, heads int)
}

// Laner is implemented by backends that run a large batch fastest as
// lanes: groups of its sequences that go through the blocks concurrently,
// each lane's ops on one core, instead of every op split over the cores
// (the CPU backend: while one lane waits on memory in an elementwise pass
// the other runs a product, and no op waits for the slowest core). A
// token's results are the same whichever lane runs it, for a given batch
// and machine, so that a pass's bits do not depend on what it observes.
type Laner interface {
	// Lanes is how many lanes a batch of rows token rows runs in: 1 for
	// none (too few rows for every core to get a lane worth running).
	Lanes(rows int) int
	// Lane returns a backend that shares this one's tensors and runs each
	// op on the goroutine that calls it.
	Lane() Backend
	// EnterLanes readies the backend's shared state for lanes running at
	// once (the CPU backend runs OpenBLAS on one thread per call) until
	// the returned leave is called; the backend's own ops keep their
	// results but run slower in between.
	EnterLanes() (leave func())
}

// SparseReader is implemented by backends that can compact a matrix on the
// device, so that only its non-zero entries cross to the host (the scan's
// feature activations are ~1% dense).
type SparseReader interface {
	// SparseRows returns t's positive entries row by row (CSR: row i is
	// ids/vals[ptr[i]:ptr[i+1]], ids ascending), reusing the given slices.
	SparseRows(t Tensor, ptr []uint64, ids []uint32, vals []float32) ([]uint64, []uint32, []float32)
	// RowSumSquares sets dst[i] to the sum of squares of row i of t.
	RowSumSquares(t Tensor, dst []float64)
}

// RowNorm names a per-row input normalisation of FamilyOps.NormalizeRows.
type RowNorm int

const (
	// RowLayerNorm is SAELens' layer_norm: with μ the row's mean and σ its
	// unbiased standard deviation (√(Σ(x−μ)²/(d−1)), 0 when d = 1),
	// x̂ = (x − μ)/(σ + ε): shift μ, scale 1/(σ + ε).
	RowLayerNorm RowNorm = iota + 1
	// RowRescale is SAELens' constant_norm_rescale: x̂ = x·√d/‖x‖ (shift 0,
	// scale √d/‖x‖, or 1 for a zero row).
	RowRescale
)

// FamilyOps is implemented by backends that run the SAE families' per-row
// steps in their own memory (a device: nothing crosses to the host), which
// compute/encoder then uses instead of reading the rows back. Sums are
// accumulated in float64. Inputs are NaN-free; shapes must agree as each
// method says (a mismatch is a programming error and panics).
type FamilyOps interface {
	// TopKRows keeps, in each row of x, the k largest entries through ReLU
	// (max(v, 0)) and sets every other entry to 0, in place. Among entries
	// equal to the k-th largest value the lower column indices are kept. k
	// ≥ cols keeps every entry through ReLU; k ≤ 0 zeroes x.
	TopKRows(x Tensor, k int)
	// JumpReLU sets x[i][j] to 0 unless x[i][j] > threshold[j] and
	// x[i][j] > 0, in place (threshold is [1, cols]).
	JumpReLU(x, threshold Tensor)
	// Gate sets mag[i][j] = max(mag[i][j], 0) where gate[i][j] > 0, else 0,
	// in place (gate has mag's shape).
	Gate(mag, gate Tensor)
	// NormalizeRows sets each row of dst to the row of x normalised as norm
	// says, x̂ = (x − shift)·scale, and row i of stats ([rows, 2]) to
	// (shift, scale); eps is RowLayerNorm's ε. dst may be x.
	NormalizeRows(dst, x, stats Tensor, norm RowNorm, eps float32)
	// DenormalizeRows undoes NormalizeRows on x (rows × any width) with the
	// stats it wrote: x = x/scale + shift, row by row, in place.
	DenormalizeRows(x, stats Tensor)
}

// ReadsBackSparse returns be's SparseReader when results should come back
// through it: be compacts them on a device and has no HostData (a CPU
// backend's results are read in place).
func ReadsBackSparse(be Backend) (SparseReader, bool) {
	if _, inPlace := be.(HostData); inPlace {
		return nil, false
	}
	sr, ok := be.(SparseReader)
	return sr, ok
}

// RecoverBackend turns a panic raised inside a backend (a device that ran
// out of memory, a driver error) into an error in *err, so that one failed
// batch ends the operation, not the application. Use it deferred:
//
//	defer compute.RecoverBackend(be, &err)
func RecoverBackend(be Backend, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s backend failed: %v", be.Name(), r)
	}
}
