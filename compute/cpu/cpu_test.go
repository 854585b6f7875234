package cpu

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/weights"
)

func backends(t *testing.T) []*Backend {
	var out []*Backend
	for _, c := range []BLAS{BLASGonum, BLASOpenBLAS} {
		b, err := New(c)
		if err != nil {
			t.Logf("skipping %s: %v", c, err)
			continue
		}
		out = append(out, b)
	}
	return out
}

// attnPaths lists the attention paths this CPU runs, best last.
func attnPaths() []attnPath {
	paths := []attnPath{attnTiles}
	for p := attnAVX2; p <= attentionVariant(); p++ {
		paths = append(paths, p)
	}
	return paths
}

func randMat(rng *rand.Rand, r, c int, scale float64) *Mat {
	d := make([]float32, r*c)
	for i := range d {
		d[i] = float32(rng.NormFloat64() * scale)
	}
	return NewMat(d, r, c)
}

func TestExpfAccuracy(t *testing.T) {
	worst := 0.0
	for x := -87.0; x < 88.5; x += 0.0137 {
		got := float64(expf(float32(x)))
		want := math.Exp(float64(float32(x)))
		if rel := math.Abs(got-want) / want; rel > worst {
			worst = rel
		}
	}
	if worst > 4e-7 {
		t.Errorf("expf worst relative error %g", worst)
	}
	if !math.IsInf(float64(expf(100)), 1) || expf(-100) != 0 {
		t.Error("expf overflow/underflow")
	}
}

func TestGeluNewMatchesTanhForm(t *testing.T) {
	for x := -12.0; x < 12; x += 0.001 {
		want := 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		got := float64(geluNew(float32(x)))
		if math.Abs(got-want) > 2e-6*math.Max(1, math.Abs(want)) {
			t.Fatalf("gelu_new(%g) = %g, want %g", x, got, want)
		}
	}
	if v := geluNew(-1e4); v != 0 || math.IsNaN(float64(v)) {
		t.Errorf("gelu_new(-1e4) = %g", v)
	}
}

func TestMatMulAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, be := range backends(t) {
		a, w, bias := randMat(rng, 37, 53, 1), randMat(rng, 53, 29, 1), randMat(rng, 1, 29, 1)
		dst := be.Alloc(37, 29).(*Mat)
		be.MatMul(dst, a, w, bias)
		wt := randMat(rng, 29, 53, 1)
		dstT := be.Alloc(37, 29).(*Mat)
		be.MatMulTransB(dstT, a, wt)
		for i := 0; i < 37; i++ {
			for j := 0; j < 29; j++ {
				s, st := float64(bias.Data()[j]), 0.0
				for k := 0; k < 53; k++ {
					s += float64(a.Data()[i*53+k]) * float64(w.Data()[k*29+j])
					st += float64(a.Data()[i*53+k]) * float64(wt.Data()[j*53+k])
				}
				if math.Abs(float64(dst.Data()[i*29+j])-s) > 1e-4 || math.Abs(float64(dstT.Data()[i*29+j])-st) > 1e-4 {
					t.Fatalf("%s: [%d,%d] = %g/%g want %g/%g", be.Name(), i, j, dst.Data()[i*29+j], dstT.Data()[i*29+j], s, st)
				}
			}
		}
	}
}

func TestLayerNormAndCenter(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	be, _ := New(BLASGonum)
	x := randMat(rng, 5, 64, 3)
	for i := range x.Data() {
		x.Data()[i] += 10 // a large mean, as in GPT-2's residual stream
	}
	w, b := randMat(rng, 1, 64, 1), randMat(rng, 1, 64, 1)
	dst := be.Alloc(5, 64).(*Mat)
	be.LayerNorm(dst, x, w, b, 1e-5)
	for r := 0; r < 5; r++ {
		row := x.Data()[r*64 : (r+1)*64]
		var mean, v float64
		for _, a := range row {
			mean += float64(a)
		}
		mean /= 64
		for _, a := range row {
			v += (float64(a) - mean) * (float64(a) - mean)
		}
		v /= 64
		for j, a := range row {
			want := (float64(a)-mean)/math.Sqrt(v+1e-5)*float64(w.Data()[j]) + float64(b.Data()[j])
			if math.Abs(float64(dst.Data()[r*64+j])-want) > 1e-5 {
				t.Fatalf("layernorm [%d,%d] = %g want %g", r, j, dst.Data()[r*64+j], want)
			}
		}
	}
	be.CenterRows(x)
	for r := 0; r < 5; r++ {
		var s float64
		for _, a := range x.Data()[r*64 : (r+1)*64] {
			s += float64(a)
		}
		if math.Abs(s/64) > 1e-5 {
			t.Errorf("row %d mean %g after CenterRows", r, s/64)
		}
	}
}

func TestCausalAttentionAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	// shapes: one tile (Q·Kᵀ a row at a time: 2048 keys per tile at d_head
	// 4); several row tiles, the last partial (70 = 32+32+6 query rows, and
	// 8·8+6 for Q·Kᵀ, d_head 64 as GPT-2); and key tiles of 2 positions
	// (d_head 4096: 2^18 / (32·4096)), so that every tiling path is compared
	// The C kernel's paths: 8-row blocks (a short last one), 32-key chunks,
	// P·V in 4-row groups by 64, 16 or single dimensions (d_head 4, 64,
	// 4096, 80 and 20), and seq 1.
	for _, sh := range []struct{ B, T, H, D int }{{2, 7, 3, 12}, {2, 70, 2, 128}, {1, 45, 1, 4096}, {3, 33, 2, 160}, {1, 1, 2, 40}, {2, 129, 1, 20}} {
		testCausalAttention(t, rng, sh.B, sh.T, sh.H, sh.D)
	}
}

func testCausalAttention(t *testing.T, rng *rand.Rand, B, T, H, D int) {
	dh := D / H
	qkv := randMat(rng, B*T, 3*D, 1)
	if dh > 64 {
		// scores of a few units, as a trained model's, not sums of thousands
		for i, v := range qkv.Data() {
			qkv.Data()[i] = v / 8
		}
	}
	var all []*Backend
	for _, be := range backends(t) {
		for _, path := range attnPaths() {
			pb := *be
			pb.attn, pb.name = path, be.name+" attention "+path.String()
			all = append(all, &pb)
		}
	}
	for _, be := range all {
		z := be.Alloc(B*T, D).(*Mat)
		be.CausalAttention(z, qkv, B, T, H)
		for b := 0; b < B; b++ {
			for h := 0; h < H; h++ {
				for i := 0; i < T; i++ {
					q := qkv.Data()[(b*T+i)*3*D+h*dh:]
					scores := make([]float64, i+1)
					mx := math.Inf(-1)
					for j := 0; j <= i; j++ {
						k := qkv.Data()[(b*T+j)*3*D+D+h*dh:]
						var s float64
						for c := 0; c < dh; c++ {
							s += float64(q[c]) * float64(k[c])
						}
						scores[j] = s / math.Sqrt(float64(dh))
						mx = math.Max(mx, scores[j])
					}
					var sum float64
					for j := range scores {
						scores[j] = math.Exp(scores[j] - mx)
						sum += scores[j]
					}
					for c := 0; c < dh; c++ {
						var want float64
						for j := 0; j <= i; j++ {
							want += scores[j] / sum * float64(qkv.Data()[(b*T+j)*3*D+2*D+h*dh+c])
						}
						got := float64(z.Data()[(b*T+i)*D+h*dh+c])
						if math.Abs(got-want) > 1e-5 {
							t.Fatalf("%s, %d×%d×%d heads of %d: z[b%d h%d i%d c%d] = %g want %g", be.Name(), B, T, H, dh, b, h, i, c, got, want)
						}
					}
				}
			}
		}
	}
}

// CausalAttentionBias must give, on every attention path, the bits of the
// product's bias added by MatMul (addBiasRows) followed by CausalAttention,
// on the shapes TestCausalAttentionAgainstNaive covers.
func TestCausalAttentionBiasSameBitsAsBiasThenAttention(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, sh := range []struct{ B, T, H, D int }{{2, 7, 3, 12}, {2, 70, 2, 128}, {1, 45, 1, 4096}, {3, 33, 2, 160}, {1, 1, 2, 40}, {2, 129, 1, 20}} {
		qkv := randMat(rng, sh.B*sh.T, 3*sh.D, 0.5)
		bias := randMat(rng, 1, 3*sh.D, 0.5)
		for _, be := range backends(t) {
			for _, path := range attnPaths() {
				pb := *be
				pb.attn = path
				// separate: the bias added to a copy of the product, then attention
				sep := NewMat(slices.Clone(qkv.Data()), sh.B*sh.T, 3*sh.D)
				addBiasRows(sep.Data(), bias.Data(), sh.B*sh.T, 3*sh.D)
				want := pb.Alloc(sh.B*sh.T, sh.D).(*Mat)
				pb.CausalAttention(want, sep, sh.B, sh.T, sh.H)
				fused := NewMat(slices.Clone(qkv.Data()), sh.B*sh.T, 3*sh.D)
				got := pb.Alloc(sh.B*sh.T, sh.D).(*Mat)
				pb.CausalAttentionBias(got, fused, bias, sh.B, sh.T, sh.H)
				if i := firstDiff(got.Data(), want.Data()); i >= 0 {
					t.Errorf("%s attention %s, %d×%d×%d heads over %d: z[%d] = %g with the bias fused, %g added first",
						be.Name(), path, sh.B, sh.T, sh.H, sh.D, i, got.Data()[i], want.Data()[i])
				}
			}
		}
	}
}

// firstDiff is the first index where a and b differ in bits, -1 if none.
func firstDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

func TestSAEEncodeAndLosses(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	be, _ := New(BLASGonum)
	x, w, bEnc, bDec := randMat(rng, 6, 8, 1), randMat(rng, 8, 10, 1), randMat(rng, 1, 10, 1), randMat(rng, 1, 8, 1)
	f := be.Alloc(6, 10).(*Mat)
	be.SAEEncode(f, x, w, bEnc, bDec)
	for i := 0; i < 6; i++ {
		for j := 0; j < 10; j++ {
			s := float64(bEnc.Data()[j])
			for k := 0; k < 8; k++ {
				s += (float64(x.Data()[i*8+k]) - float64(bDec.Data()[k])) * float64(w.Data()[k*10+j])
			}
			s = math.Max(s, 0)
			if math.Abs(float64(f.Data()[i*10+j])-s) > 1e-5 {
				t.Fatalf("encode [%d,%d] = %g want %g", i, j, f.Data()[i*10+j], s)
			}
		}
	}
	logits := randMat(rng, 3, 50, 2)
	loss := make([]float32, 3)
	targets := []int32{0, 17, 49}
	be.CrossEntropy(loss, logits, targets)
	ent, mp := make([]float32, 3), make([]float32, 3)
	be.SoftmaxStats(ent, mp, logits)
	for r := 0; r < 3; r++ {
		row := logits.Data()[r*50 : (r+1)*50]
		var z float64
		for _, v := range row {
			z += math.Exp(float64(v))
		}
		want := math.Log(z) - float64(row[targets[r]])
		var h, pmax float64
		for _, v := range row {
			p := math.Exp(float64(v)) / z
			h -= p * math.Log2(p)
			pmax = math.Max(pmax, p)
		}
		if math.Abs(float64(loss[r])-want) > 1e-5 || math.Abs(float64(ent[r])-h) > 1e-5 || math.Abs(float64(mp[r])-pmax) > 1e-6 {
			t.Errorf("row %d: loss %g/%g entropy %g/%g maxprob %g/%g", r, loss[r], want, ent[r], h, mp[r], pmax)
		}
	}
}

var _ compute.Backend = (*Backend)(nil)

func TestVectorKernelsMatchGo(t *testing.T) {
	xs := make([]float32, 0, 40000)
	for x := -20.0; x < 20; x += 0.001 {
		xs = append(xs, float32(x))
	}
	xs = append(xs, -1e4, 1e4, 0, float32(math.Copysign(0, -1)))
	got := append([]float32(nil), xs...)
	geluSlice(got)
	for i, x := range xs {
		want := 0.5 * float64(x) * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(float64(x)+0.044715*float64(x)*float64(x)*float64(x))))
		if math.Abs(float64(got[i])-want) > 2e-6*math.Max(1, math.Abs(want)) || math.IsNaN(float64(got[i])) {
			t.Fatalf("gelu kernel(%g) = %g, want %g", x, got[i], want)
		}
	}
	rng := rand.New(rand.NewPCG(9, 9))
	const seq = 37
	a := randMat(rng, seq, seq, 5).Data()
	b := append([]float32(nil), a...)
	causalSoftmax(a, seq)
	causalSoftmaxGo(b, seq)
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-6 {
			t.Fatalf("softmax kernel [%d] = %g, Go %g", i, a[i], b[i])
		}
	}
}

// Softmax statistics and losses over vocabulary-wide rows (lengths not a
// multiple of the kernel's blocks), flat, peaked and one-hot, against a
// float64 computation with math.Exp; the C sums against the Go ones.
func TestSoftmaxStatsWideRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	be, _ := New(BLASGonum)
	for _, n := range []int{1, 3, 513, 50257} {
		rows := [][]float32{}
		for _, scale := range []float64{0, 0.5, 3, 30} {
			r := make([]float32, n)
			for j := range r {
				r[j] = float32(rng.NormFloat64()*scale - 5)
			}
			rows = append(rows, r)
		}
		onehot := make([]float32, n)
		onehot[n/2] = 200
		rows = append(rows, onehot)
		m := be.Alloc(len(rows), n).(*Mat)
		for i, r := range rows {
			copy(m.Data()[i*n:], r)
		}
		ent, mp := make([]float32, len(rows)), make([]float32, len(rows))
		loss := make([]float32, len(rows))
		targets := make([]int32, len(rows))
		for i := range targets {
			targets[i] = int32(rng.IntN(n))
		}
		be.SoftmaxStats(ent, mp, m)
		be.CrossEntropy(loss, m, targets)
		for i, r := range rows {
			mx := float64(r[0])
			for _, v := range r {
				mx = math.Max(mx, float64(v))
			}
			var z float64
			for _, v := range r {
				z += math.Exp(float64(v) - mx)
			}
			var h float64
			for _, v := range r {
				if p := math.Exp(float64(v)-mx) / z; p > 0 {
					h -= p * math.Log2(p)
				}
			}
			lse := mx + math.Log(z)
			if d := math.Abs(float64(ent[i]) - h); d > 1e-5*math.Max(1, h) {
				t.Errorf("n=%d row %d: entropy %g bits, want %g", n, i, ent[i], h)
			}
			if d := math.Abs(float64(mp[i]) - 1/z); d > 1e-6 {
				t.Errorf("n=%d row %d: max prob %g, want %g", n, i, mp[i], 1/z)
			}
			if want := lse - float64(r[targets[i]]); math.Abs(float64(loss[i])-want) > 2e-5*math.Max(1, math.Abs(want)) {
				t.Errorf("n=%d row %d: loss %g, want %g", n, i, loss[i], want)
			}
			gm, gs, gt := expSumsGo(r)
			cm, cs, ct := expSums(r)
			if gm != cm || math.Abs(gs-cs) > 1e-6*gs || math.Abs(gt-ct) > 1e-6*math.Max(1, math.Abs(gt)) {
				t.Errorf("n=%d row %d: kernel sums (%g %g %g), Go (%g %g %g)", n, i, cm, cs, ct, gm, gs, gt)
			}
		}
	}
}

func TestUploadAliasesWeights(t *testing.T) {
	be, err := New(BLASGonum)
	if err != nil {
		t.Fatal(err)
	}
	w := weights.Tensor{Shape: []int{3, 4}, Data: make([]float32, 12)}
	up, err := be.Upload(w)
	if err != nil {
		t.Fatal(err)
	}
	d := up.(*Mat).Dense()
	if got := d.Shape(); len(got) != 2 || got[0] != 3 || got[1] != 4 {
		t.Fatalf("shape %v, want (3, 4)", got)
	}
	if &d.Float32s()[0] != &w.Data[0] {
		t.Fatal("the Dense does not share the weight's memory")
	}
	v, err := be.Upload(weights.Tensor{Shape: []int{5}, Data: make([]float32, 5)})
	if err != nil || v.Rows() != 1 || v.Cols() != 5 {
		t.Fatalf("1-D upload: %v, err %v", v, err)
	}
	if _, err := be.Upload(weights.Tensor{Shape: []int{3, 4}, Data: make([]float32, 11)}); err == nil {
		t.Fatal("a tensor with fewer values than its shape was uploaded")
	}
}

func TestRowsView(t *testing.T) {
	be, err := New(BLASGonum)
	if err != nil {
		t.Fatal(err)
	}
	m := randMat(rand.New(rand.NewPCG(5, 6)), 6, 3, 1)
	for _, r := range [][2]int{{0, 6}, {2, 3}, {1, 4}, {4, 4}, {5, 6}} {
		v := be.RowsView(m, r[0], r[1]).(*Mat)
		if v.Rows() != r[1]-r[0] || v.Cols() != 3 {
			t.Fatalf("rows %v: view is %dx%d", r, v.Rows(), v.Cols())
		}
		if r[1] > r[0] && &v.Data()[0] != &m.Data()[r[0]*3] {
			t.Fatalf("rows %v: the view does not share its parent's memory", r)
		}
		w := be.RowsView(v, 0, v.Rows()) // a view of a view
		if w.Rows() != v.Rows() || len(w.(*Mat).Data()) != len(v.Data()) {
			t.Fatalf("rows %v: view of the view is %dx%d", r, w.Rows(), w.Cols())
		}
	}
	if a := testing.AllocsPerRun(10, func() { be.RowsView(m, 1, 4) }); a != 0 {
		t.Errorf("viewing the same rows again allocates %v times", a)
	}
}
