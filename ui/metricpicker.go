package ui

import (
	"errors"
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/attribution"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/workspace"
)

// metricPicker is the choice of a metric shared by the Patch and the
// Attribution graph panes: a logit difference of two one-token texts at
// the last position, the loss over the prompt, or a feature's activation
// of any SAE of the workspace at a position. It owns the inputs of each,
// shows those of the metric chosen, and reads them into a checkedMetric.
type metricPicker struct {
	v *View

	// Metric chooses patchLogitDiff, patchLoss or patchFeature.
	Metric *widget.Select
	// TokenA and TokenB are the logit difference's tokens, typed as text.
	TokenA, TokenB *widget.Entry
	// MetricSAE, MetricFeature and MetricPos choose a feature metric.
	MetricSAE     *widget.Select
	MetricFeature *widget.Entry
	MetricPos     *widget.Entry
	// LossNote says what the loss is, shown with the loss chosen.
	LossNote *widget.Label

	logitBox, featureBox *fyne.Container
	saes                 []*workspace.SAE // MetricSAE's options
	opt                  metricPickerOptions
}

// metricPickerOptions are what differs between the panes' pickers.
type metricPickerOptions struct {
	// MetricWidth, SAEWidth and PosWidth are the widths of the metric's
	// choice, the feature metric's SAE and its position.
	MetricWidth, SAEWidth, PosWidth float32
	// PosLabel precedes the feature metric's position.
	PosLabel string
	// LossNote is the loss's note.
	LossNote string
	// Prompts names the prompt(s) in the messages on their length:
	// "prompts" or "a prompt".
	Prompts string
	// OnChange, if set, runs when the metric chosen (before its inputs
	// are shown) or one of the logit difference's tokens changes.
	OnChange func()
}

// checkedMetric is the metric chosen, read from the picker and checked.
type checkedMetric struct {
	// Patch is the metric of intervene's patching.
	Patch intervene.Metric
	// Attr is the same metric for attribution: a feature metric's SAE
	// indexes the picker's SAEs (its saes, as of the last refreshSAEs).
	Attr attribution.Metric
	// Target is the encoder a feature metric reads (nil for the others).
	Target *encoder.Encoder
	// Desc describes the metric in words, as the panes' summaries and
	// titles show it.
	Desc string
}

// newMetricPicker builds a metric picker for v's workspace. Nothing is
// chosen yet: the pane selects the metric once its own widgets exist.
func newMetricPicker(v *View, opt metricPickerOptions) *metricPicker {
	m := &metricPicker{v: v, opt: opt}
	m.TokenA, m.TokenB = widget.NewEntry(), widget.NewEntry()
	m.TokenA.SetPlaceHolder(PatchExampleA)
	m.TokenB.SetPlaceHolder(PatchExampleB)
	m.MetricSAE = widget.NewSelect(nil, nil)
	m.MetricFeature = widget.NewEntry()
	m.MetricFeature.SetPlaceHolder("feature")
	m.MetricPos = widget.NewEntry()
	m.MetricPos.SetText("-1")
	m.LossNote = widget.NewLabel(opt.LossNote)
	m.LossNote.Importance = widget.LowImportance
	m.LossNote.Truncation = fyne.TextTruncateEllipsis
	m.Metric = widget.NewSelect([]string{patchLogitDiff, patchLoss, patchFeature}, func(string) { m.syncMetric() })
	if opt.OnChange != nil {
		m.TokenA.OnChanged = func(string) { opt.OnChange() }
		m.TokenB.OnChanged = func(string) { opt.OnChange() }
	}

	label := func(s string) *widget.Label { return widget.NewLabel(s) }
	m.logitBox = container.NewHBox(fixedWidth(m.TokenA, 110), label("−"), fixedWidth(m.TokenB, 110))
	m.featureBox = container.NewHBox(fixedWidth(m.MetricSAE, opt.SAEWidth), label("feature"), fixedWidth(m.MetricFeature, 80),
		label(opt.PosLabel), fixedWidth(m.MetricPos, opt.PosWidth))
	return m
}

// fixedWidth gives o the width w at its own height.
func fixedWidth(o fyne.CanvasObject, w float32) fyne.CanvasObject {
	return container.NewGridWrap(fyne.NewSize(w, o.MinSize().Height), o)
}

// row lays the picker out on one row: "Metric", its choice, the inputs of
// the metric chosen, and right (nil for none) at the end.
func (m *metricPicker) row(right fyne.CanvasObject) fyne.CanvasObject {
	return container.NewBorder(nil, nil,
		container.NewHBox(widget.NewLabel("Metric"), fixedWidth(m.Metric, m.opt.MetricWidth)), right,
		container.NewStack(m.logitBox, m.featureBox, m.LossNote))
}

// syncMetric shows the inputs of the metric chosen.
func (m *metricPicker) syncMetric() {
	if m.opt.OnChange != nil {
		m.opt.OnChange()
	}
	m.logitBox.Hide()
	m.featureBox.Hide()
	m.LossNote.Hide()
	switch m.Metric.Selected {
	case patchLogitDiff:
		m.logitBox.Show()
	case patchFeature:
		m.refreshSAEs()
		m.featureBox.Show()
	default:
		m.LossNote.Show()
	}
}

// refreshSAEs lists the workspace's SAEs for a feature metric, keeping the
// choice (the tab's own SAE at first).
func (m *metricPicker) refreshSAEs() {
	if m.v.SAE == nil || m.v.SAE.W == nil {
		return
	}
	m.saes = m.v.SAE.W.SAEs()
	names := make([]string, len(m.saes))
	sel := -1
	for i, s := range m.saes {
		names[i] = fmt.Sprintf("%d: %s", i, s.Name())
		if s == m.v.SAE {
			sel = i
		}
	}
	prev := m.MetricSAE.SelectedIndex()
	m.MetricSAE.SetOptions(names)
	switch {
	case prev >= 0 && prev < len(names):
		m.MetricSAE.SetSelectedIndex(prev)
	case sel >= 0:
		m.MetricSAE.SetSelectedIndex(sel)
	}
}

// metricTokens returns the logit difference's two token ids.
func (m *metricPicker) metricTokens() (a, b int, err error) {
	if m.TokenA.Text == "" || m.TokenB.Text == "" {
		return 0, 0, errors.New(`type the two tokens of the logit difference (with their leading space: " Mary")`)
	}
	if a, err = intervene.OneToken(m.v.Tok, m.TokenA.Text); err != nil {
		return 0, 0, fmt.Errorf("first token: %w", err)
	}
	if b, err = intervene.OneToken(m.v.Tok, m.TokenB.Text); err != nil {
		return 0, 0, fmt.Errorf("second token: %w", err)
	}
	return a, b, nil
}

// readMetric reads and checks the metric chosen for a prompt (or prompts) of T
// tokens.
func (m *metricPicker) readMetric(T int) (*checkedMetric, error) {
	switch m.Metric.Selected {
	case patchLogitDiff:
		a, b, err := m.metricTokens()
		if err != nil {
			return nil, err
		}
		return &checkedMetric{Patch: intervene.LogitDiff(a, b), Attr: attribution.Metric{Kind: attribution.LogitDiff, A: a, B: b},
			Desc: fmt.Sprintf("logit %q − logit %q at the last position", m.TokenA.Text, m.TokenB.Text)}, nil
	case patchLoss:
		if T < 2 {
			return nil, fmt.Errorf("the loss needs %s of at least 2 tokens", m.opt.Prompts)
		}
		return &checkedMetric{Patch: intervene.LossMetric(), Attr: attribution.Metric{Kind: attribution.Loss},
			Desc: "loss over the prompt"}, nil
	case patchFeature:
		i := m.MetricSAE.SelectedIndex()
		if i < 0 || i >= len(m.saes) {
			return nil, errors.New("choose the SAE whose feature is the metric")
		}
		f, err := parseInt(m.MetricFeature.Text)
		if err != nil {
			return nil, fmt.Errorf("metric feature: %w", err)
		}
		s := m.saes[i]
		if f < 0 || f >= s.Weights.DSae {
			return nil, fmt.Errorf("metric feature %d out of range: that SAE has features 0 to %d", f, s.Weights.DSae-1)
		}
		pos, err := parseInt(m.MetricPos.Text)
		if err != nil {
			return nil, fmt.Errorf("metric position: %w", err)
		}
		if pos < -T || pos >= T {
			return nil, fmt.Errorf("metric position %d outside %s of %d tokens (0 to %d, or -1 to -%d from the end)", pos, m.opt.Prompts, T, T-1, T)
		}
		return &checkedMetric{Patch: intervene.FeatureMetric(s.Enc, f, pos),
			Attr:   attribution.Metric{Kind: attribution.Feature, SAE: i, Feature: f, Pos: pos},
			Target: s.Enc, Desc: fmt.Sprintf("feature %d of %s at position %d", f, s.Name(), pos)}, nil
	}
	return nil, errors.New("choose a metric")
}
