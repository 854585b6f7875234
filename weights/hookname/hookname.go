// Package hookname parses and formats TransformerLens hook point names of
// GPT-2, such as "blocks.9.hook_resid_pre" or "hook_embed".
package hookname

import (
	"fmt"
	"strconv"
	"strings"
)

// Point is the kind of activation a hook sees.
type Point string

// The hook points of a GPT-2 HookedTransformer that SAE Scope computes.
const (
	Embed    Point = "hook_embed"
	PosEmbed Point = "hook_pos_embed"
	ResidPre Point = "hook_resid_pre"
	// AttnZ is the attention heads' mixed values before W_O,
	// [pos, n_heads·d_head] (TransformerLens' [pos, head, d_head] flattened).
	AttnZ    Point = "attn.hook_z"
	AttnOut  Point = "hook_attn_out"
	ResidMid Point = "hook_resid_mid"
	// LN2Normalized is ln_2's output before its gain and bias (as
	// TransformerLens' fold_ln leaves it): what MLP transcoders read.
	LN2Normalized Point = "ln2.hook_normalized"
	MLPPost       Point = "mlp.hook_post"
	MLPOut        Point = "hook_mlp_out"
	ResidPost     Point = "hook_resid_post"
)

// BlockPoints lists the per-block points in the order the forward pass
// computes them.
var BlockPoints = []Point{ResidPre, AttnZ, AttnOut, ResidMid, LN2Normalized, MLPPost, MLPOut, ResidPost}

// Hook is a parsed hook name. Layer is -1 for the embedding hooks.
type Hook struct {
	Layer int
	Point Point
}

// String returns the TransformerLens name.
func (h Hook) String() string {
	if h.Layer < 0 {
		return string(h.Point)
	}
	return fmt.Sprintf("blocks.%d.%s", h.Layer, h.Point)
}

// Order returns a number that increases in the order the forward pass
// computes hooks, so that a forward pass can stop once Order is reached.
func (h Hook) Order() int {
	if h.Layer < 0 {
		if h.Point == Embed {
			return 0
		}
		return 1
	}
	for i, p := range BlockPoints {
		if p == h.Point {
			return 2 + h.Layer*len(BlockPoints) + i
		}
	}
	return -1
}

// Width reports whether the hook holds d_model values (false means d_mlp).
func (h Hook) Width() string {
	if h.Point == MLPPost {
		return "d_mlp"
	}
	return "d_model"
}

// Parse reads a TransformerLens hook name. nLayer, when positive, bounds the
// layer index.
func Parse(name string, nLayer int) (Hook, error) {
	switch Point(name) {
	case Embed, PosEmbed:
		return Hook{Layer: -1, Point: Point(name)}, nil
	}
	rest, ok := strings.CutPrefix(name, "blocks.")
	if !ok {
		return Hook{}, fmt.Errorf("hook %q: not a GPT-2 hook name (want hook_embed, hook_pos_embed or blocks.L.<point>)", name)
	}
	num, point, ok := strings.Cut(rest, ".")
	if !ok {
		return Hook{}, fmt.Errorf("hook %q: missing point after the layer", name)
	}
	layer, err := strconv.Atoi(num)
	if err != nil || layer < 0 {
		return Hook{}, fmt.Errorf("hook %q: layer %q is not a non-negative integer", name, num)
	}
	if nLayer > 0 && layer >= nLayer {
		return Hook{}, fmt.Errorf("hook %q: layer %d out of range, the model has %d layers", name, layer, nLayer)
	}
	for _, p := range BlockPoints {
		if Point(point) == p {
			return Hook{Layer: layer, Point: p}, nil
		}
	}
	known := make([]string, len(BlockPoints))
	for i, p := range BlockPoints {
		known[i] = string(p)
	}
	return Hook{}, fmt.Errorf("hook %q: unknown point %q: give blocks.LAYER.POINT with POINT one of %s", name, point, strings.Join(known, ", "))
}
