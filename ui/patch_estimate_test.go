package ui

import (
	"context"
	"math"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/compute/attribution"
)

// A run also computes attribution patching's estimate of every feature's
// effect (issue 18): the result's Estimate equals attribution.PatchEstimate
// on the same prompts and metric, the table gains its column, and the
// status line says how well estimate and effects agree.
func TestPatchPaneEstimate(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewPatchPane(v)
	show(t, p.Content(), 1100, 760)
	p.RunExample()
	p.Settle()
	if p.Msg.Visible() {
		t.Fatalf("message %q", p.Msg.Text)
	}
	a, b := v.Tok.Encode(PatchExampleA), v.Tok.Encode(PatchExampleB)
	clean, corrupt := patchTokens(v, PatchExampleClean), patchTokens(v, PatchExampleCorrupt)
	want, err := attribution.PatchEstimate(context.Background(), v.SAE.W.Model, v.SAE.Enc, nil, clean, corrupt,
		attribution.Metric{Kind: attribution.LogitDiff, A: a[0], B: b[0]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := p.Result()
	if r == nil || len(r.Estimate) != len(want) {
		t.Fatalf("estimate missing or of the wrong size (status %q)", p.Status.Text)
	}
	nonzero := 0
	for i, w := range want {
		if math.Abs(r.Estimate[i]-w) > 1e-9*math.Max(1, math.Abs(w)) {
			t.Fatalf("estimate[%d] = %g, want %g", i, r.Estimate[i], w)
		}
		if w != 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Error("every estimate is 0: the check says little")
	}
	found := false
	for _, c := range p.columns() {
		found = found || c.title == "Estimate"
	}
	if !found {
		t.Error("no Estimate column")
	}
	if !strings.Contains(p.Status.Text, "correlation") || !p.Status.Visible() {
		t.Errorf("status %q (shown: %v) says nothing of the agreement", p.Status.Text, p.Status.Visible())
	}
}
