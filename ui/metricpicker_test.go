package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/compute/attribution"
)

// The metric picker shows the inputs of the metric chosen, keeps the SAE
// chosen when the list is made anew, and reads each metric, refusing bad
// inputs with their messages.
func TestMetricPicker(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	otherView(t, nil) // a second SAE in the workspace
	changes := 0
	m := newMetricPicker(v, metricPickerOptions{MetricWidth: 175, SAEWidth: 260, PosLabel: "at", PosWidth: 56,
		LossNote: "the loss", Prompts: "prompts", OnChange: func() { changes++ }})
	show(t, m.row(nil), 900, 200)

	if _, err := m.readMetric(4); err == nil || err.Error() != "choose a metric" {
		t.Errorf("no metric: %v", err)
	}
	m.Metric.SetSelected(patchLogitDiff)
	if !m.logitBox.Visible() || m.featureBox.Visible() || m.LossNote.Visible() || changes != 1 {
		t.Errorf("logit difference: its inputs are not the ones shown (%d changes)", changes)
	}
	if _, err := m.readMetric(4); err == nil || !strings.Contains(err.Error(), "type the two tokens of the logit difference") {
		t.Errorf("no tokens: %v", err)
	}
	m.TokenA.SetText(" Mary")
	m.TokenB.SetText(" John")
	if changes != 3 {
		t.Errorf("%d changes after typing both tokens, want 3", changes)
	}
	mt, err := m.readMetric(4)
	if err != nil || mt.Attr.Kind != attribution.LogitDiff || mt.Attr.A != 5335 || mt.Desc != `logit " Mary" − logit " John" at the last position` {
		t.Errorf("logit difference: %+v, %v", mt, err)
	}

	m.Metric.SetSelected(patchLoss)
	if !m.LossNote.Visible() || m.logitBox.Visible() || m.featureBox.Visible() {
		t.Error("loss: its note is not the one shown")
	}
	if _, err := m.readMetric(1); err == nil || err.Error() != "the loss needs prompts of at least 2 tokens" {
		t.Errorf("loss on one token: %v", err)
	}
	if mt, err := m.readMetric(4); err != nil || mt.Attr.Kind != attribution.Loss || mt.Desc != "loss over the prompt" {
		t.Errorf("loss: %+v, %v", mt, err)
	}

	m.Metric.SetSelected(patchFeature)
	if !m.featureBox.Visible() || len(m.saes) < 2 {
		t.Fatalf("feature metric: shown %v, %d SAEs", m.featureBox.Visible(), len(m.saes))
	}
	own := m.MetricSAE.SelectedIndex()
	if own < 0 || m.saes[own] != v.SAE {
		t.Errorf("metric SAE %d at first, want the tab's own", own)
	}
	other := 1 - own
	m.MetricSAE.SetSelectedIndex(other)
	m.refreshSAEs()
	if m.MetricSAE.SelectedIndex() != other {
		t.Errorf("metric SAE %d after a refresh, want %d kept", m.MetricSAE.SelectedIndex(), other)
	}
	s := m.saes[other]
	m.MetricFeature.SetText("256")
	if _, err := m.readMetric(4); err == nil || err.Error() != "metric feature 256 out of range: that SAE has features 0 to 255" {
		t.Errorf("feature 256: %v", err)
	}
	m.MetricFeature.SetText("x")
	if _, err := m.readMetric(4); err == nil || !strings.HasPrefix(err.Error(), "metric feature: ") {
		t.Errorf("feature x: %v", err)
	}
	m.MetricFeature.SetText("3")
	m.MetricPos.SetText("4")
	if _, err := m.readMetric(4); err == nil || err.Error() != "metric position 4 outside prompts of 4 tokens (0 to 3, or -1 to -4 from the end)" {
		t.Errorf("position 4: %v", err)
	}
	m.MetricPos.SetText("-4")
	mt, err = m.readMetric(4)
	if err != nil || mt.Attr != (attribution.Metric{Kind: attribution.Feature, SAE: other, Feature: 3, Pos: -4}) || mt.Target != s.Enc ||
		mt.Desc != "feature 3 of "+s.Name()+" at position -4" {
		t.Errorf("feature 3 at -4: %+v, %v", mt, err)
	}
}

// The Patch pane refuses a metric position outside its prompts before
// running anything.
func TestPatchPaneMetricPosition(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewPatchPane(v)
	show(t, p.Content(), 1100, 760)
	p.Clean.SetText("The cat sat")
	p.Corrupt.SetText("The dog sat")
	p.Metric.SetSelected(patchFeature)
	p.MetricFeature.SetText("3")
	p.MetricPos.SetText("9")
	p.Start()
	if !strings.Contains(p.Msg.Text, "metric position 9 outside prompts of 4 tokens") || !p.Cancel.Disabled() {
		t.Errorf("position 9: message %q, Cancel enabled %v", p.Msg.Text, !p.Cancel.Disabled())
	}
	p.Settle()
	if p.Result() != nil {
		t.Error("a run with the metric position outside the prompts")
	}
}
