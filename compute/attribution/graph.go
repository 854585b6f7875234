package attribution

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/model"
)

// Node is one node of an attribution graph: a feature of an SAE at a
// position, or (Feature = −1) that SAE's error at the position.
type Node struct {
	SAE     int `json:"sae"`
	Pos     int `json:"pos"`
	Feature int `json:"feature"`
	// Act is the feature's activation (0 for an error node); Attr its
	// attribution to the metric, f·∂m/∂f (an error's: e·∂m/∂e).
	Act  float64 `json:"act"`
	Attr float64 `json:"attr"`
}

// IsError says whether the node is an SAE's error.
func (n Node) IsError() bool { return n.Feature < 0 }

// Edge goes from a node of an SAE to a feature node of the next SAE
// downstream: Weight = f_up·∂f_down/∂f_up (an error node's: e·∂f_down/∂e),
// with every SAE spliced in, errors held constant.
type Edge struct {
	From   int     `json:"from"` // indices into Graph.Nodes
	To     int     `json:"to"`
	Weight float64 `json:"weight"`
}

// Graph is an attribution graph of one prompt and metric.
type Graph struct {
	Metric float64 `json:"metric"`
	// Order is the SAEs' indices in the order of the hooks they write.
	Order []int  `json:"order"`
	Nodes []Node `json:"nodes"`
	Edges []Edge `json:"edges"`
}

// GraphOptions bound a graph.
type GraphOptions struct {
	// Threshold keeps the feature nodes with |Attr| ≥ Threshold; MaxNodes
	// (default 30) keeps at most that many per SAE, the largest |Attr|
	// first. Every SAE's error at every position is a node.
	Threshold float64
	MaxNodes  int
	// EdgeThreshold keeps the edges with |Weight| > EdgeThreshold.
	EdgeThreshold float64
	// Progress, when set, sees the downstream nodes done so far.
	Progress func(done, total int)
}

// BuildGraph runs one forward pass of tokens with saes spliced in, the
// backward from metric (the nodes), and a backward from each feature
// node of every SAE but the first in hook order (its edges from the SAE
// before it), batched: about 768/T nodes per pass. It holds the model's
// lock during each pass.
func BuildGraph(ctx context.Context, m *model.Model, saes []*encoder.Encoder, tokens []int32, metric Metric, opt GraphOptions) (*Graph, error) {
	if opt.MaxNodes <= 0 {
		opt.MaxNodes = 30
	}
	if math.IsNaN(opt.Threshold) || math.IsNaN(opt.EdgeThreshold) {
		return nil, errors.New("graph thresholds must be numbers")
	}
	tp, err := NewTape(ctx, m, saes, tokens, true)
	if err != nil {
		return nil, err
	}
	res, err := tp.Gradient(ctx, metric)
	if err != nil {
		return nil, err
	}
	g := &Graph{Metric: res.Metric, Edges: []Edge{}} // no edges: [] in JSON, not null
	for i := range saes {
		g.Order = append(g.Order, i)
	}
	sort.SliceStable(g.Order, func(a, b int) bool {
		return saes[g.Order[a]].SAE.Output().Order() < saes[g.Order[b]].SAE.Output().Order()
	})
	T := res.T
	// the nodes of each SAE: its strongest features, then its errors
	nodesOf := make([][]int, len(saes))
	for _, k := range g.Order {
		n := saes[k].DSae()
		var cand []Node
		for j, f := range res.Acts[k] {
			if f == 0 {
				continue
			}
			a := float64(f) * float64(res.Grads[k][j])
			if math.Abs(a) >= opt.Threshold && a != 0 {
				cand = append(cand, Node{SAE: k, Pos: j / n, Feature: j % n, Act: float64(f), Attr: a})
			}
		}
		sort.SliceStable(cand, func(a, b int) bool { return math.Abs(cand[a].Attr) > math.Abs(cand[b].Attr) })
		if len(cand) > opt.MaxNodes {
			cand = cand[:opt.MaxNodes]
		}
		for pos := 0; pos < T; pos++ {
			cand = append(cand, Node{SAE: k, Pos: pos, Feature: -1, Attr: float64(res.ErrorAttr[k][pos])})
		}
		for _, nd := range cand {
			nodesOf[k] = append(nodesOf[k], len(g.Nodes))
			g.Nodes = append(g.Nodes, nd)
		}
	}
	total := 0
	for _, k := range g.Order[1:] {
		total += len(nodesOf[k]) - T
	}
	done := 0
	for oi, k := range g.Order {
		if oi == 0 {
			continue
		}
		up := g.Order[oi-1]
		if saes[up].SAE.Output().Order() >= saes[k].SAE.Hook.Order() {
			return nil, fmt.Errorf("SAE %s reads %s before SAE %s writes %s: the graph needs them one after the other", saes[k].SAE.Name(), saes[k].SAE.Hook, saes[up].SAE.Name(), saes[up].SAE.Output())
		}
		nUp := saes[up].DSae()
		var feats []int // the downstream feature nodes
		for _, to := range nodesOf[k] {
			if !g.Nodes[to].IsError() {
				feats = append(feats, to)
			}
		}
		// batches of downstream nodes share one backward pass (about 768
		// rows of gradient each)
		batch := max(1, min(64, 768/T))
		for lo := 0; lo < len(feats); lo += batch {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			chunk := feats[lo:min(len(feats), lo+batch)]
			metrics := make([]Metric, len(chunk))
			for c, to := range chunk {
				dn := g.Nodes[to]
				metrics[c] = Metric{Kind: Feature, SAE: k, Feature: dn.Feature, Pos: dn.Pos}
			}
			rs, err := tp.featureGradients(ctx, metrics, saes[up].SAE.Hook.Layer)
			if err != nil {
				return nil, err
			}
			for c, to := range chunk {
				r := rs[c]
				for _, from := range nodesOf[up] {
					un := g.Nodes[from]
					var w float64
					if un.IsError() {
						w = float64(r.ErrorAttr[up][un.Pos])
					} else {
						w = un.Act * float64(r.Grads[up][un.Pos*nUp+un.Feature])
					}
					if math.Abs(w) > opt.EdgeThreshold && w != 0 {
						g.Edges = append(g.Edges, Edge{From: from, To: to, Weight: w})
					}
				}
			}
			done += len(chunk)
			if opt.Progress != nil {
				opt.Progress(done, total)
			}
		}
	}
	return g, nil
}
