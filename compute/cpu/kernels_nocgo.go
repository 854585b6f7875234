//go:build !cgo

package cpu

func geluSlice(x []float32) {
	for i, v := range x {
		x[i] = geluNew(v)
	}
}

func causalSoftmax(scores []float32, seq int) { causalSoftmaxGo(scores, seq) }

func expSums(row []float32) (mx float32, s, t float64) { return expSumsGo(row) }

func layerNormRows(x, out, w, b []float32, rows, cols int, eps float32) {
	layerNormRowsGo(x, out, w, b, rows, cols, eps)
}

func centerRows(x []float32, rows, cols int) { centerRowsGo(x, rows, cols) }

func addResidualRows(resid, delta, bias []float32, centre bool, ln, w, b []float32, rows, cols int, eps float32) {
	addResidualRowsGo(resid, delta, bias, centre, ln, w, b, rows, cols, eps)
}

func addBiasRows(x, bias []float32, rows, cols int) { addBiasRowsGo(x, bias, rows, cols) }

func biasGeluRows(x, bias []float32, rows, cols int) { biasGeluRowsGo(x, bias, rows, cols) }

func biasReLURows(x, bias []float32, rows, cols int) { biasReLURowsGo(x, bias, rows, cols) }

func attentionVariant() attnPath { return attnTiles }

func attentionScratch(seq, dh int) int { return 0 }

func attentionHead(variant attnPath, q, k, v, bq, bk, bv []float32, ld int, out []float32, ldo, seq, dh int, scale float32, scratch []float32) {
	panic("cpu: attentionHead without cgo") // unreachable: attentionVariant is attnTiles
}
