package attribution

// The backward of GPT-2's row-wise ops on host memory, and the causal
// attention forward whose softmax that backward recomputes, exported for
// other packages that differentiate the forward (compute/lmtrain trains
// GPT-2 with them). The backward ops are the ones the attribution backward
// uses.

// LayerNormBackward adds to dx ([n, d]) the gradient with respect to x of
// y = (x − mean)/sqrt(var + eps)·w + b (biased variance, row by row), given
// dy; w nil is a gain of 1. The gradients of w and b are the caller's
// (Σ dy·x̂ and Σ dy over rows).
func LayerNormBackward(dx, x, w, dy []float32, d int, eps float64) {
	layerNormBackward(dx, x, w, dy, d, eps)
}

// GeluNewBackward sets dx = dy·gelu_new'(h), elementwise.
func GeluNewBackward(dx, h, dy []float32) { geluBackward(dx, h, dy) }

// CausalAttentionBackward sets dqkv ([T, 3d]: q, k, v blocks, heads
// contiguous, as GPT-2's c_attn writes them) to the gradient of one
// sequence's causal attention output z ([T, d]) given dz, from the
// forward's qkv (the softmax is recomputed).
func CausalAttentionBackward(dqkv, qkv, dz []float32, T, d, heads int) {
	attentionBackward(dqkv, qkv, dz, T, d, heads)
}

// CausalAttention sets z ([T, d]) to one sequence's causal multi-head
// attention of qkv ([T, 3d]: q, k, v blocks, heads contiguous, as GPT-2's
// c_attn writes them), in float64 on the calling goroutine. Its softmax is
// computed by the same loop as CausalAttentionBackward's.
func CausalAttention(z, qkv []float32, T, d, heads int) {
	attentionForward(z, qkv, T, d, heads)
}
