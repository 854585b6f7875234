//go:build !cgo

package cpu

func geluSlice(x []float32) {
	for i, v := range x {
		x[i] = geluNew(v)
	}
}

func causalSoftmax(scores []float32, seq int) { causalSoftmaxGo(scores, seq) }

func expSums(row []float32) (mx float32, s, t float64) { return expSumsGo(row) }
