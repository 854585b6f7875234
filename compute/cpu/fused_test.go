package cpu

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/saescope/saescope/compute"
)

// naiveLN is LayerNorm of one row in float64.
func naiveLN(row, w, b []float64, eps float64) []float64 {
	var mean, v float64
	for _, a := range row {
		mean += a
	}
	mean /= float64(len(row))
	for _, a := range row {
		v += (a - mean) * (a - mean)
	}
	v /= float64(len(row))
	out := make([]float64, len(row))
	for j, a := range row {
		out[j] = (a-mean)/math.Sqrt(v+eps)*w[j] + b[j]
	}
	return out
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// fusedVariant is one implementation of the row kernels: C (with cgo),
// Go, and the backend's methods (rows split across cores).
type fusedVariant struct {
	name   string
	add    func(resid, delta, bias []float32, centre bool, ln, w, b []float32, rows, cols int, eps float32)
	center func(x []float32, rows, cols int)
	layerN func(x, out, w, b []float32, rows, cols int, eps float32)
}

func fusedVariants() []fusedVariant {
	be, _ := New(BLASGonum)
	return []fusedVariant{
		{"kernel", addResidualRows, centerRows, layerNormRows},
		{"go", addResidualRowsGo, centerRowsGo, layerNormRowsGo},
		{"backend", func(resid, delta, bias []float32, centre bool, ln, w, b []float32, rows, cols int, eps float32) {
			var lm, wm, lbm, bm compute.Tensor // nil interfaces where not given
			if ln != nil {
				lm, wm, lbm = NewMat(ln, rows, cols), NewMat(w, 1, cols), NewMat(b, 1, cols)
			}
			if bias != nil {
				bm = NewMat(bias, 1, cols)
			}
			be.AddResidual(NewMat(resid, rows, cols), NewMat(delta, rows, cols), bm, centre, lm, wm, lbm, eps)
		}, func(x []float32, rows, cols int) {
			be.CenterRows(NewMat(x, rows, cols))
		}, func(x, out, w, b []float32, rows, cols int, eps float32) {
			be.LayerNorm(NewMat(out, rows, cols), NewMat(x, rows, cols), NewMat(w, 1, cols), NewMat(b, 1, cols), eps)
		}},
	}
}

// residualCase is a residual stream (large mean, as GPT-2's), a write into
// it and LayerNorm weights.
func residualCase(rng *rand.Rand, rows, cols int) (resid, delta, w, b []float32) {
	resid = randMat(rng, rows, cols, 3).Data()
	for i := range resid {
		resid[i] += 20
	}
	delta = randMat(rng, rows, cols, 1).Data()
	for i := range delta {
		delta[i] += 0.5
	}
	return resid, delta, randMat(rng, 1, cols, 1).Data(), randMat(rng, 1, cols, 1).Data()
}

// TestFusedResidualAgainstFloat64 checks the fused residual write (the
// product's bias, centre, add, LayerNorm), centring and LayerNorm against
// float64 computations, on widths that are and are not a multiple of the
// 16 partial sums (768, 37).
func TestFusedResidualAgainstFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const eps = 1e-5
	for _, v := range fusedVariants() {
		for _, cols := range []int{768, 37} {
			rows := 3
			if v.name == "backend" {
				rows = 200 // enough work to be split across cores
			}
			for _, centre := range []bool{true, false} {
				for _, withLN := range []bool{true, false} {
					resid, delta, w, b := residualCase(rng, rows, cols)
					var ln, bias []float32
					if withLN {
						ln = make([]float32, rows*cols)
					}
					if centre == withLN { // with and without the product's bias, centred or not
						bias = randMat(rng, 1, cols, 1).Data()
					}
					r0, d0, dIn := f64(resid), f64(delta), slices.Clone(delta)
					v.add(resid, delta, bias, centre, ln, w, b, rows, cols, eps)
					// the CPU's kernels only read delta (ResidualAdder lets a
					// backend leave it either way)
					if i := firstDiff(delta, dIn); i >= 0 {
						t.Fatalf("%s cols %d centre %v: delta[%d] = %g after the residual write, %g before", v.name, cols, centre, i, delta[i], dIn[i])
					}
					for i := 0; i < rows; i++ {
						d := d0[i*cols : (i+1)*cols]
						for j := range bias {
							d[j] += float64(bias[j])
						}
						if centre {
							var m float64
							for _, a := range d {
								m += a
							}
							m /= float64(cols)
							for j := range d {
								d[j] -= m
							}
						}
						r := r0[i*cols : (i+1)*cols]
						for j := range r {
							r[j] += d[j]
							if got := float64(resid[i*cols+j]); math.Abs(got-r[j]) > 2e-5*math.Max(1, math.Abs(r[j])) {
								t.Fatalf("%s cols %d centre %v: resid[%d][%d] = %g, want %g", v.name, cols, centre, i, j, got, r[j])
							}
						}
						if ln != nil {
							// against LayerNorm of the float32 residual written
							want := naiveLN(f64(resid[i*cols:(i+1)*cols]), f64(w), f64(b), eps)
							for j, wv := range want {
								if got := float64(ln[i*cols+j]); math.Abs(got-wv) > 1e-4 {
									t.Fatalf("%s cols %d centre %v: ln[%d][%d] = %g, want %g", v.name, cols, centre, i, j, got, wv)
								}
							}
						}
					}
				}
			}
			// centring alone
			x := randMat(rng, rows, cols, 2).Data()
			for i := range x {
				x[i] += 10
			}
			x0 := f64(x)
			v.center(x, rows, cols)
			for i := 0; i < rows; i++ {
				var m float64
				for _, a := range x0[i*cols : (i+1)*cols] {
					m += a
				}
				m /= float64(cols)
				for j := 0; j < cols; j++ {
					if got, want := float64(x[i*cols+j]), x0[i*cols+j]-m; math.Abs(got-want) > 1e-5 {
						t.Fatalf("%s centre cols %d: [%d][%d] = %g, want %g", v.name, cols, i, j, got, want)
					}
				}
			}
			// LayerNorm alone
			w, b := randMat(rng, 1, cols, 1).Data(), randMat(rng, 1, cols, 1).Data()
			out := make([]float32, rows*cols)
			v.layerN(x0f(x0), out, w, b, rows, cols, eps)
			for i := 0; i < rows; i++ {
				want := naiveLN(x0[i*cols:(i+1)*cols], f64(w), f64(b), eps)
				for j, wv := range want {
					if got := float64(out[i*cols+j]); math.Abs(got-wv) > 1e-4 {
						t.Fatalf("%s LayerNorm cols %d: [%d][%d] = %g, want %g", v.name, cols, i, j, got, wv)
					}
				}
			}
		}
	}
}

// x0f is v in float32 (exact: v was float32).
func x0f(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// TestFusedResidualSameBitsAsSeparate: the model takes the fused path
// only where no hook looks between the steps, so a pass observed at more
// hooks (an SAE scanned alone or with others, a brute-force check) must
// give the same bits: a product made without its bias, then the fused
// write taking the bias, equals the product with its bias, CenterRows, Add
// and LayerNorm one after another, exactly.
func TestFusedResidualSameBitsAsSeparate(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	const rows, k, eps = 300, 40, 1e-5
	for _, be := range backends(t) {
		for _, cols := range []int{768, 37} {
			for _, centre := range []bool{true, false} {
				for _, withBias := range []bool{true, false} {
					resid, _, w, b := residualCase(rng, rows, cols)
					x, wo := randMat(rng, rows, k, 1), randMat(rng, k, cols, 0.3)
					var bo compute.Tensor // nil interface without the bias
					var bv []float32
					if withBias {
						m := randMat(rng, 1, cols, 1)
						bo, bv = m, m.Data()
					}
					r2 := slices.Clone(resid)
					delta, d2 := make([]float32, rows*cols), make([]float32, rows*cols)
					ln, ln2 := make([]float32, rows*cols), make([]float32, rows*cols)
					be.MatMul(NewMat(delta, rows, cols), x, wo, nil)
					d0 := slices.Clone(delta)
					be.AddResidual(NewMat(resid, rows, cols), NewMat(delta, rows, cols), bo, centre, NewMat(ln, rows, cols), NewMat(w, 1, cols), NewMat(b, 1, cols), eps)
					be.MatMul(NewMat(d2, rows, cols), x, wo, bo)
					if centre {
						be.CenterRows(NewMat(d2, rows, cols))
					}
					be.Add(NewMat(r2, rows, cols), NewMat(r2, rows, cols), NewMat(d2, rows, cols))
					be.LayerNorm(NewMat(ln2, rows, cols), NewMat(r2, rows, cols), NewMat(w, 1, cols), NewMat(b, 1, cols), eps)
					// delta is only read: it keeps the product made without the bias
					for name, pair := range map[string][2][]float32{"delta": {delta, d0}, "resid": {resid, r2}, "ln": {ln, ln2}} {
						if i := firstDiff(pair[0], pair[1]); i >= 0 {
							t.Fatalf("%s cols %d centre %v bias %v: fused %s[%d] = %g, separate steps %g", be.Name(), cols, centre, withBias, name, i, pair[0][i], pair[1][i])
						}
					}
					// and the Go kernels among themselves (builds without cgo)
					resid, delta, w, b = residualCase(rng, 2, cols)
					r2, d2, d0 = slices.Clone(resid), slices.Clone(delta), slices.Clone(delta)
					addResidualRowsGo(resid, delta, bv, centre, ln[:2*cols], w, b, 2, cols, eps)
					if withBias {
						addBiasRowsGo(d2, bv, 2, cols)
					}
					if centre {
						centerRowsGo(d2, 2, cols)
					}
					for i := range r2 {
						r2[i] += d2[i]
					}
					layerNormRowsGo(r2, ln2[:2*cols], w, b, 2, cols, eps)
					if !slices.Equal(resid, r2) || !slices.Equal(delta, d0) || !slices.Equal(ln[:2*cols], ln2[:2*cols]) {
						t.Fatalf("cols %d centre %v bias %v: the Go fused write differs from its separate steps", cols, centre, withBias)
					}
				}
			}
		}
	}
}

// TestBiasGeluSameBitsAsSeparate: the MLP's first product made without
// its bias, then BiasGeluNew, equals the product with its bias, then
// GeluNew, to the bit (the model fuses where nothing observes between
// them); and the C kernel against gelu_new's tanh form in float64.
func TestBiasGeluSameBitsAsSeparate(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	const rows, k = 300, 40
	for _, be := range backends(t) {
		for _, cols := range []int{3072, 37} {
			x, wi, bi := randMat(rng, rows, k, 1), randMat(rng, k, cols, 0.5), randMat(rng, 1, cols, 1)
			a, b := be.Alloc(rows, cols).(*Mat), be.Alloc(rows, cols).(*Mat)
			be.MatMul(a, x, wi, nil)
			be.BiasGeluNew(a, bi)
			be.MatMul(b, x, wi, bi)
			pre := slices.Clone(b.Data())
			be.GeluNew(b)
			for i, v := range a.Data() {
				if math.Float32bits(v) != math.Float32bits(b.Data()[i]) {
					t.Fatalf("%s cols %d: fused [%d] = %g, separate %g", be.Name(), cols, i, v, b.Data()[i])
				}
				p := float64(pre[i])
				want := 0.5 * p * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(p+0.044715*p*p*p)))
				if math.Abs(float64(v)-want) > 2e-6*math.Max(1, math.Abs(want)) {
					t.Fatalf("%s cols %d: gelu_new(%g) = %g, want %g", be.Name(), cols, p, v, want)
				}
			}
		}
	}
	// the Go kernels among themselves
	x, bias := randMat(rng, 3, 37, 2).Data(), randMat(rng, 1, 37, 1).Data()
	y := slices.Clone(x)
	biasGeluRowsGo(x, bias, 3, 37)
	addBiasRowsGo(y, bias, 3, 37)
	for i, v := range y {
		y[i] = geluNew(v)
	}
	if !slices.Equal(x, y) {
		t.Fatal("the Go bias + gelu_new differs from its separate steps")
	}
}

// TestBiasReLUKernels checks max(x + bias, 0), with and without a bias, in
// C (with cgo) and Go, against float64.
func TestBiasReLUKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for name, f := range map[string]func(x, bias []float32, rows, cols int){"kernel": biasReLURows, "go": biasReLURowsGo} {
		for _, cols := range []int{6144, 37} {
			for _, withBias := range []bool{true, false} {
				x := randMat(rng, 3, cols, 1).Data()
				x[5] = float32(math.NaN())
				x0 := f64(x)
				var bias []float32
				if withBias {
					bias = randMat(rng, 1, cols, 1).Data()
				}
				f(x, bias, 3, cols)
				for i, v := range x0 {
					if bias != nil {
						v += float64(bias[i%cols])
					}
					if math.IsNaN(v) {
						if !math.IsNaN(float64(x[i])) {
							t.Fatalf("%s cols %d bias %v: NaN became %g", name, cols, withBias, x[i])
						}
						continue
					}
					if want := math.Max(v, 0); math.Abs(float64(x[i])-want) > 1e-6 {
						t.Fatalf("%s cols %d bias %v: [%d] = %g, want %g", name, cols, withBias, i, x[i], want)
					}
				}
			}
		}
	}
}
