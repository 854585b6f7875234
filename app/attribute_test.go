package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saescope/saescope/weights/safetensors"
)

// attribute reproduces the fixtures' attribution references through the
// command (1e-4): on tokens[0] with sae1 upstream of sae0's feature 135 at
// the last position, flow.target_act, flow.attribution and (--exact)
// flow.ablation_effect; with the metric logits[-1, 13] − logits[-1, 11]
// and sae0, −attr.zero_ablation_clean on tokens[0] and (--gradient)
// attr.grad_corrupt on tokens[1].
func TestAttributeCommand(t *testing.T) {
	v1, err := safetensors.Open("../testdata/fixtures/reference.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer v1.Close()
	ref, err := safetensors.Open("../testdata/fixtures/v2/reference.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	toks, shape, err := v1.Int64("tokens")
	if err != nil {
		t.Fatal(err)
	}
	T := shape[1]
	clean, corrupt := idsArg(toks[:T]), idsArg(toks[T:2*T])
	want := func(name string) []float32 {
		w, err := ref.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		return w.Data
	}
	close1e4 := func(what string, got []float64, want []float32, sign float64) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
		}
		for i, w := range want {
			w := sign * float64(w)
			if math.Abs(got[i]-w) > 1e-4*math.Max(1, math.Abs(w)) {
				t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], w)
			}
		}
	}
	type result struct {
		Attribution   [][]float64 `json:"attribution"`
		Gradient      [][]float64 `json:"gradient"`
		TargetAct     *float64    `json:"target_act"`
		Effect        []float64   `json:"effect"`
		Ablated       int         `json:"ablated"`
		Graph         json.RawMessage
		ComputedOn    string `json:"computed_on"`
		ExactFeatures []int  `json:"exact_features"`
		Flow          *struct {
			Act, Attention, Bias, Unexplained float64
			PreAct                            float64  `json:"pre_act"`
			ResidPre                          flowHook `json:"resid_pre"`
			MLPOut                            flowHook `json:"mlp_out"`
		}
	}
	run := func(args ...string) result {
		t.Helper()
		out, errs, code := runCLI(t, append([]string{"attribute", "--model", fixModel, "--blas", "gonum"}, args...)...)
		if code != 0 {
			t.Fatalf("attribute %v: exit %d: %s", args, code, errs)
		}
		var r result
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	flat := func(rows [][]float64) []float64 {
		var out []float64
		for _, r := range rows {
			out = append(out, r...)
		}
		return out
	}
	flow := run("--sae", fixSAE1, "--sae", fixSAE0, "--target", "135", "--pos", "-1", "--tokens", clean, "--exact", "--flow")
	if flow.TargetAct == nil {
		t.Fatal("no target_act")
	}
	close1e4("target_act", []float64{*flow.TargetAct}, want("flow.target_act"), 1)
	close1e4("flow.attribution", flat(flow.Attribution), want("flow.attribution"), 1)
	close1e4("flow.ablation_effect", flow.Effect, want("flow.ablation_effect"), 1)
	if flow.Ablated == 0 {
		t.Error("no feature ablated")
	}
	// --exact-top 3: the three features of largest summed attribution,
	// their exact effects as --exact's, the others 0
	top := run("--sae", fixSAE1, "--sae", fixSAE0, "--target", "135", "--tokens", clean, "--exact-top", "3")
	if len(top.ExactFeatures) != 3 || top.Ablated != 3 {
		t.Fatalf("--exact-top 3: features %v, %d ablated", top.ExactFeatures, top.Ablated)
	}
	sums := make([]float64, 256)
	for _, row := range top.Attribution {
		for i, v := range row {
			sums[i] += v
		}
	}
	wantEff := make([]float32, 256)
	for k, i := range top.ExactFeatures {
		wantEff[i] = want("flow.ablation_effect")[i]
		for j := range sums {
			if k == 0 && math.Abs(sums[j]) > math.Abs(sums[i])+1e-12 {
				t.Errorf("feature %d's summed attribution %g is larger than the top one's (%d, %g)", j, sums[j], i, sums[i])
			}
		}
	}
	close1e4("--exact-top effect", top.Effect, wantEff, 1)
	// --flow: the target's inputs from block 0 add up to its activation;
	// no SAE at blocks.0.hook_resid_pre, sae1 at hook_mlp_out
	fl := flow.Flow
	if fl == nil {
		t.Fatal("no flow")
	}
	close1e4("flow act", []float64{fl.Act}, want("flow.target_act"), 1)
	close1e4("flow shares", []float64{fl.ResidPre.Total + fl.Attention + fl.MLPOut.Total + fl.Bias}, []float32{float32(fl.Act)}, 1)
	if fl.ResidPre.SAE == nil || *fl.ResidPre.SAE || fl.ResidPre.Error != fl.ResidPre.Total || len(fl.MLPOut.Top) == 0 || fl.MLPOut.SAE != nil {
		t.Errorf("flow hooks: resid_pre %+v, mlp_out %+v", fl.ResidPre, fl.MLPOut)
	}
	// --graph: the edges into the flow target are flow.attribution
	gr := run("--sae", fixSAE0, "--sae", fixSAE1, "--metric", "13,11", "--tokens", clean, "--graph", "--max-nodes", "1000")
	type node struct {
		SAE, Pos, Feature int
	}
	var graph struct {
		Nodes []node `json:"nodes"`
		Edges []struct {
			From, To int
			Weight   float64
		} `json:"edges"`
	}
	if err := json.Unmarshal(gr.Graph, &graph); err != nil {
		t.Fatal(err)
	}
	flowRef := want("flow.attribution")
	into := 0
	for _, e := range graph.Edges {
		to, from := graph.Nodes[e.To], graph.Nodes[e.From]
		if to != (node{0, T - 1, 135}) || from.Feature < 0 {
			continue
		}
		close1e4("graph edge", []float64{e.Weight}, []float32{flowRef[from.Pos*256+from.Feature]}, 1)
		into++
	}
	if into == 0 {
		t.Error("no edge into sae0's feature 135 at the last position")
	}
	za := run("--sae", fixSAE0, "--metric", "13,11", "--tokens", clean)
	close1e4("attr.zero_ablation_clean", flat(za.Attribution), want("attr.zero_ablation_clean"), -1)
	if za.TargetAct != nil || za.Effect != nil {
		t.Error("target_act or effect without --target or --exact")
	}
	if za.ComputedOn != "cpu" {
		t.Errorf("computed_on %q on the CPU backend", za.ComputedOn)
	}
	g := run("--sae", fixSAE0, "--metric", "13,11", "--tokens", corrupt, "--gradient")
	close1e4("attr.grad_corrupt", flat(g.Gradient), want("attr.grad_corrupt"), 1)
}

// flowHook is one hook of attribute --flow's output.
type flowHook struct {
	Total, Error float64
	SAE          *bool
	Top          []struct {
		Feature int
		Share   float64
	}
}

// Bad requests get a clear error, not a panic or an empty result.
func TestAttributeRefuses(t *testing.T) {
	base := []string{"attribute", "--model", fixModel, "--blas", "gonum", "--tokens", "50256,464,2068,7586"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--sae", fixSAE0}, "give one metric"},
		{[]string{"--sae", fixSAE0, "--metric", "1,2", "--target", "3"}, "give one metric"},
		{[]string{"--metric", "1,2"}, "--sae PATH is required"},
		{[]string{"--sae", fixSAE0, "--metric", "1"}, "two token ids"},
		{[]string{"--sae", fixSAE0, "--metric", "1,99999999"}, "not a token id"},
		{[]string{"--sae", fixSAE0, "--target", "100000"}, "out of range"},
		{[]string{"--sae", fixSAE0, "--target", "3", "--pos", "9"}, "outside a prompt"},
		{[]string{"--sae", fixSAE0, "--sae", fixSAE0, "--metric", "1,2"}, "two SAEs read"},
		{[]string{"--sae", fixSAE0, "--hook", "a", "--hook", "b", "--metric", "1,2"}, "2 --hook for 1 --sae"},
		{[]string{"--sae", fixSAE0, "--metric", "1,2", "--graph", "--max-nodes", "0"}, "--max-nodes 0"},
		{[]string{"--sae", fixSAE0, "--metric", "1,2", "--flow"}, "--flow goes with --target"},
		{[]string{"--sae", fixSAE0, "--metric", "1,2", "--exact", "--exact-top", "3"}, "not both"},
		{[]string{"--sae", fixSAE0, "--metric", "1,2", "--exact-top", "-1"}, "--exact-top -1"},
		{[]string{"--sae", fixSAE0, "--target", "-1"}, "--target -1: not a feature number"},
		{[]string{"--sae", fixSAE0, "--sae", fixSAE1, "--target", "143"}, "before blocks.1.hook_resid_pre where the first --sae"},
		{[]string{"--sae", fixSAE0, "--metric", "1,2", "--graph", "--threshold", "-1"}, "--threshold -1"},
		{[]string{"--sae", fixSAE0, "--metric", "1,2", "--graph", "--threshold", "Inf"}, "--threshold +Inf"},
		{[]string{"--sae", fixSAE0, "--metric", "1,2", "--graph", "--threshold", "NaN"}, "--threshold NaN"},
		{[]string{"--sae", fixSAE0, "--metric", "1,2", "--graph", "--edge-threshold", "-1"}, "--edge-threshold -1"},
		{[]string{"--sae", fixSAE0, "--metric", "1,2", "--graph", "--edge-threshold", "-Inf"}, "--edge-threshold -Inf"},
	} {
		_, errs, code := runCLI(t, append(append([]string(nil), base...), c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("attribute %v: exit %d, stderr %q; want an error saying %q", c.args, code, errs, c.want)
		}
	}
}

// patch prints attribution patching's estimate beside the exact effects:
// the fixture's attr.ie_estimate (1e-4), and its correlation with them
// (0.98 in the fixture's note).
func TestPatchEstimate(t *testing.T) {
	v1, err := safetensors.Open("../testdata/fixtures/reference.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer v1.Close()
	ref, err := safetensors.Open("../testdata/fixtures/v2/reference.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	toks, shape, err := v1.Int64("tokens")
	if err != nil {
		t.Fatal(err)
	}
	T := shape[1]
	out, errs, code := runCLI(t, "patch", "--model", fixModel, "--sae", fixSAE0, "--clean", idsArg(toks[:T]), "--corrupt", idsArg(toks[T:2*T]),
		"--metric", "13,11", "--blas", "gonum")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Estimate    []float64 `json:"estimate"`
		Correlation float64   `json:"estimate_correlation"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	want, err := ref.Float32("attr.ie_estimate")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Estimate) != len(want.Data) {
		t.Fatalf("%d estimates, want %d", len(got.Estimate), len(want.Data))
	}
	for i, w := range want.Data {
		if math.Abs(got.Estimate[i]-float64(w)) > 1e-4*math.Max(1, math.Abs(float64(w))) {
			t.Fatalf("estimate[%d] = %g, want %g", i, got.Estimate[i], w)
		}
	}
	if !(got.Correlation > 0.97) {
		t.Errorf("estimate_correlation %g, the fixture says 0.98", got.Correlation)
	}
}

// With --text, BOS is prepended unless every SAE was trained without it
// (OpenAI's files): then the text runs alone, as in their training.
func TestAttributeTextBOS(t *testing.T) {
	oai := filepath.Join("..", "testdata", "fixtures", "v2", "oai-topk8-hook_resid_post-0.pt")
	for _, c := range []struct {
		args []string
		bos  bool
	}{
		{[]string{"--sae", oai, "--hook", "blocks.0.hook_resid_post"}, false},
		{[]string{"--sae", oai, "--hook", "blocks.0.hook_resid_post", "--sae", fixSAE0, "--hook", ""}, true},
		{[]string{"--sae", fixSAE0}, true},
	} {
		args := append([]string{"attribute", "--model", fixModel, "--blas", "gonum", "--metric", "13,11", "--text", text0}, c.args...)
		out, errs, code := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, errs)
		}
		var got struct {
			Tokens      []int32     `json:"tokens"`
			Attribution [][]float64 `json:"attribution"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if (got.Tokens[0] == 50256) != c.bos || len(got.Attribution) != len(got.Tokens) {
			t.Errorf("%v: tokens %v, %d attribution rows; want BOS first: %v", c.args, got.Tokens[:3], len(got.Attribution), c.bos)
		}
	}
}

// A graph threshold that no feature reaches gives the error nodes, no
// edge, and says so: "edges": [] in the JSON (it was null) and a line on
// stderr (it was blank).
func TestAttributeEmptyGraph(t *testing.T) {
	out, errs, code := runCLI(t, "attribute", "--model", fixModel, "--blas", "gonum", "--tokens", "50256,464,2068,7586",
		"--sae", fixSAE1, "--sae", fixSAE0, "--metric", "13,11", "--graph", "--threshold", "1e30")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		Graph struct {
			Nodes []struct {
				Feature int `json:"feature"`
			} `json:"nodes"`
			Edges *[]any `json:"edges"`
		} `json:"graph"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Graph.Edges == nil || len(*res.Graph.Edges) != 0 {
		t.Errorf("edges %v, want []", res.Graph.Edges)
	}
	if len(res.Graph.Nodes) != 8 {
		t.Errorf("%d nodes, want the errors of 2 SAEs at 4 positions", len(res.Graph.Nodes))
	}
	if !strings.Contains(errs, "no edge (0 feature nodes") || strings.Contains(errs, "\n\n") || strings.HasPrefix(errs, "\n") {
		t.Errorf("stderr %q: want a line saying there is no edge, and no blank line", errs)
	}
}
