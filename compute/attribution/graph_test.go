package attribution

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/internal/fixture"
)

// The graph of tokens[0] with sae1 (blocks.0.hook_mlp_out) and sae0
// (blocks.1.hook_resid_pre), given in the wrong order, for the metric
// logits[-1, 13] − logits[-1, 11]: its nodes' attributions are Run's f·∂m/∂f
// and error attributions; the edges into sae0's feature 135 at the last
// position are the fixture's flow.attribution (1e-4), those from sae1's
// errors a tape's e·∂f/∂e; MaxNodes and Threshold bound the nodes.
func TestBuildGraph(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	v2 := causalRef(t)
	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	prompt := tokens[:T]
	down, up := s.SAEs["sae0"], s.SAEs["sae1"]
	saes := []*encoder.Encoder{down, up}
	metric := Metric{Kind: LogitDiff, A: 13, B: 11}
	ctx := context.Background()
	g, err := BuildGraph(ctx, s.Model, saes, prompt, metric, GraphOptions{MaxNodes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Order) != 2 || g.Order[0] != 1 || g.Order[1] != 0 {
		t.Fatalf("order %v, want [1 0]", g.Order)
	}
	tp, err := NewTape(ctx, s.Model, saes, prompt, true)
	if err != nil {
		t.Fatal(err)
	}
	r, err := tp.Gradient(ctx, metric)
	if err != nil {
		t.Fatal(err)
	}
	target := -1
	for i, nd := range g.Nodes {
		var want float64
		if nd.IsError() {
			want = float64(r.ErrorAttr[nd.SAE][nd.Pos])
		} else {
			n := saes[nd.SAE].DSae()
			want = nd.Act * float64(r.Grads[nd.SAE][nd.Pos*n+nd.Feature])
		}
		fixture.Close(t, "node attribution", []float32{float32(nd.Attr)}, []float32{float32(want)}, 1e-6)
		if nd.SAE == 0 && nd.Pos == T-1 && nd.Feature == 135 {
			target = i
		}
	}
	if target < 0 {
		t.Fatal("sae0's feature 135 at the last position is not a node")
	}
	flow := want(t, v2, "flow.attribution")
	rf, err := tp.Gradient(ctx, Metric{Kind: Feature, SAE: 0, Feature: 135, Pos: -1})
	if err != nil {
		t.Fatal(err)
	}
	n := up.DSae()
	edges, errEdges := 0, 0
	for _, e := range g.Edges {
		if e.To != target {
			continue
		}
		from := g.Nodes[e.From]
		if from.SAE != 1 {
			t.Fatalf("edge into sae0 from SAE %d", from.SAE)
		}
		if from.IsError() {
			fixture.Close(t, "error edge", []float32{float32(e.Weight)}, []float32{rf.ErrorAttr[1][from.Pos]}, 1e-6)
			errEdges++
			continue
		}
		fixture.Close(t, "flow.attribution edge", []float32{float32(e.Weight)}, []float32{flow[from.Pos*n+from.Feature]}, 1e-4)
		edges++
	}
	// every non-zero flow.attribution of an sae1 node is an edge
	nonzero := 0
	for _, nd := range g.Nodes {
		if nd.SAE == 1 && !nd.IsError() && flow[nd.Pos*n+nd.Feature] != 0 {
			nonzero++
		}
	}
	if edges != nonzero || edges == 0 || errEdges == 0 {
		t.Errorf("%d feature edges into the target (want %d) and %d error edges", edges, nonzero, errEdges)
	}
	// bounds
	small, err := BuildGraph(ctx, s.Model, saes, prompt, metric, GraphOptions{MaxNodes: 3, Threshold: 1e-3})
	if err != nil {
		t.Fatal(err)
	}
	per := map[int]int{}
	for _, nd := range small.Nodes {
		if nd.IsError() {
			continue
		}
		per[nd.SAE]++
		if nd.Attr < 1e-3 && nd.Attr > -1e-3 {
			t.Errorf("node under the threshold: %+v", nd)
		}
	}
	if per[0] > 3 || per[1] > 3 || per[0] == 0 {
		t.Errorf("feature nodes per SAE %v, want 1 to 3", per)
	}
}

// One batched backward from several feature metrics (of two SAEs, at
// several positions, TopK with layer_norm among them, errors kept) gives
// each metric's gradients and error attributions as its own backward
// does (1e-5: the batched matrix products may round differently).
func TestBatchedGradientsEqualSingle(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASAuto)
	be := s.Backend
	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	saes := []*encoder.Encoder{s.SAEs["sae1"], loadV2(t, be, "saelens-attn-hook_z-1", ""), loadV2(t, be, "saelens-topk-hook_resid_post-1", "")}
	ctx := context.Background()
	tp, err := NewTape(ctx, s.Model, saes, tokens[T:2*T], true)
	if err != nil {
		t.Fatal(err)
	}
	metrics := []Metric{{Kind: Feature, SAE: 2, Feature: 5, Pos: -1}, {Kind: Feature, SAE: 1, Feature: 17, Pos: 9},
		{Kind: Feature, SAE: 2, Feature: 40, Pos: 3}, {Kind: Feature, SAE: 2, Feature: 5, Pos: -1}}
	rs, err := tp.featureGradients(ctx, metrics, 0)
	if err != nil {
		t.Fatal(err)
	}
	nonzero := 0
	for k, mt := range metrics {
		want, err := tp.Gradient(ctx, mt)
		if err != nil {
			t.Fatal(err)
		}
		fixture.Close(t, mt.String()+" value", []float32{float32(rs[k].Metric)}, []float32{float32(want.Metric)}, 0)
		for i := range saes {
			fixture.Close(t, mt.String()+" gradient", rs[k].Grads[i], want.Grads[i], 1e-5)
			fixture.Close(t, mt.String()+" error attribution", rs[k].ErrorAttr[i], want.ErrorAttr[i], 1e-5)
			for _, v := range want.Grads[i] {
				if v != 0 {
					nonzero++
				}
			}
		}
	}
	if nonzero == 0 {
		t.Error("every gradient is 0: the check says little")
	}
}

// A threshold no feature reaches leaves only the error nodes and no edge:
// the graph's JSON says "edges": [] (it said null).
func TestBuildGraphNoFeatureNode(t *testing.T) {
	ref := fixture.Load(t)
	s := fixture.NewSetup(t, ref, cpu.BLASGonum)
	tokens, shape := ref.Ints(t, "tokens")
	T := shape[1]
	saes := []*encoder.Encoder{s.SAEs["sae1"], s.SAEs["sae0"]}
	g, err := BuildGraph(context.Background(), s.Model, saes, tokens[:T], Metric{Kind: LogitDiff, A: 13, B: 11}, GraphOptions{Threshold: math.Inf(1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range g.Nodes {
		if !nd.IsError() {
			t.Fatalf("feature node %+v above an infinite threshold", nd)
		}
	}
	if len(g.Nodes) != 2*T {
		t.Errorf("%d nodes, want the %d errors of 2 SAEs at %d positions", len(g.Nodes), 2*T, T)
	}
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"edges":[]`) {
		t.Errorf("graph JSON without edges: %.200s…, want \"edges\":[]", b)
	}
}
