package cpu

import (
	"math"

	"github.com/saescope/saescope/compute"
)

// AddResidual implements compute.ResidualAdder.
func (b *Backend) AddResidual(resid, delta, bias compute.Tensor, centre bool, ln, w, lnBias compute.Tensor, eps float32) {
	r, d := host(resid), host(delta)
	var lv, wv, lbv, bv []float32
	if ln != nil {
		lv, wv, lbv = host(ln).data, host(w).data, host(lnBias).data
	}
	if bias != nil {
		bv = host(bias).data
	}
	n := r.cols
	b.parallel(r.rows, 4*n, func(lo, hi int) {
		var l []float32
		if lv != nil {
			l = lv[lo*n : hi*n]
		}
		addResidualRows(r.data[lo*n:hi*n], d.data[lo*n:hi*n], bv, centre, l, wv, lbv, hi-lo, n, eps)
	})
}

// BiasGeluNew implements compute.BiasGeluer.
func (b *Backend) BiasGeluNew(x, bias compute.Tensor) {
	if bias == nil {
		b.GeluNew(x)
		return
	}
	m, bv := host(x), host(bias).data
	b.parallel(m.rows, 8*m.cols, func(lo, hi int) {
		biasGeluRows(m.data[lo*m.cols:hi*m.cols], bv, hi-lo, m.cols)
	})
}

// layerNormRowsGo is layerNormRows in Go (builds without cgo): mean and
// variance over four partial float32 sums, the inverse square root in
// float64.
func layerNormRowsGo(x, out, w, b []float32, rows, cols int, eps float32) {
	n := float32(cols)
	for i := 0; i < rows; i++ {
		in := x[i*cols : (i+1)*cols]
		o := out[i*cols : (i+1)*cols]
		mean := sum32(in) / n
		var s0, s1, s2, s3 float32
		j := 0
		for ; j+4 <= len(in); j += 4 {
			a0, a1, a2, a3 := in[j]-mean, in[j+1]-mean, in[j+2]-mean, in[j+3]-mean
			s0 += a0 * a0
			s1 += a1 * a1
			s2 += a2 * a2
			s3 += a3 * a3
		}
		for ; j < len(in); j++ {
			a := in[j] - mean
			s0 += a * a
		}
		variance := ((s0 + s1) + (s2 + s3)) / n
		inv := float32(1 / math.Sqrt(float64(variance+eps)))
		for j := range in {
			o[j] = (in[j]-mean)*inv*w[j] + b[j]
		}
	}
}

// centerRowsGo is centerRows in Go.
func centerRowsGo(x []float32, rows, cols int) {
	for i := 0; i < rows; i++ {
		d := x[i*cols : (i+1)*cols]
		mean := sum32(d) / float32(cols)
		for j := range d {
			d[j] -= mean
		}
	}
}

// addResidualRowsGo is addResidualRows in Go, with addBiasRowsGo's,
// centerRowsGo's and layerNormRowsGo's arithmetic; delta is left as it was
// (each row is biased and centred in a copy).
func addResidualRowsGo(resid, delta, bias []float32, centre bool, ln, w, b []float32, rows, cols int, eps float32) {
	d := make([]float32, cols)
	for i := 0; i < rows; i++ {
		r := resid[i*cols : (i+1)*cols]
		copy(d, delta[i*cols:(i+1)*cols])
		if bias != nil {
			addBiasRowsGo(d, bias, 1, cols)
		}
		if centre {
			centerRowsGo(d, 1, cols)
		}
		for j := range r {
			r[j] += d[j]
		}
		if ln != nil {
			layerNormRowsGo(r, ln[i*cols:(i+1)*cols], w, b, 1, cols, eps)
		}
	}
}

// addBiasRowsGo is addBiasRows in Go.
func addBiasRowsGo(x, bias []float32, rows, cols int) {
	for i := 0; i < rows; i++ {
		r := x[i*cols : (i+1)*cols]
		for j := range r {
			r[j] += bias[j]
		}
	}
}

// biasGeluRowsGo is biasGeluRows in Go.
func biasGeluRowsGo(x, bias []float32, rows, cols int) {
	for i := 0; i < rows; i++ {
		r := x[i*cols : (i+1)*cols]
		for j := range r {
			r[j] = geluNew(r[j] + bias[j])
		}
	}
}

// biasReLURowsGo is biasReLURows in Go.
func biasReLURowsGo(x, bias []float32, rows, cols int) {
	for i := 0; i < rows; i++ {
		r := x[i*cols : (i+1)*cols]
		for j, v := range r {
			if bias != nil {
				v += bias[j]
			}
			if v < 0 { // NaN stays NaN, for the scan to report it
				v = 0
			}
			r[j] = v
		}
	}
}
