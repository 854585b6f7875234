package ui

import (
	"fmt"
	"net/url"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/internal/numfmt"
	"github.com/saescope/saescope/ui/labels"
	"github.com/saescope/saescope/weights/catalog"
	"github.com/saescope/saescope/weights/hookname"
	"github.com/saescope/saescope/weights/sae"
)

// FeatureHeader shows the selected feature's numbers and lets the user
// edit its label and notes in place; every edit is saved at once.
type FeatureHeader struct {
	v       *View
	content fyne.CanvasObject

	Title *widget.Label
	Stats *widget.Label
	Label *widget.Entry
	Notes *widget.Entry
	// Pin pins the feature for comparison (Unpin when it is pinned).
	Pin *widget.Button
	// Steer adds the feature to the Steer pane's list.
	Steer *widget.Button
	// Neuronpedia opens the feature on Neuronpedia, for an SAE it hosts
	// (hidden otherwise).
	Neuronpedia *widget.Button
	// openURL opens an address in the browser (the app's; a test's).
	openURL func(*url.URL) error

	syncing bool
}

// NewFeatureHeader builds the header of v's selected feature.
func NewFeatureHeader(v *View) *FeatureHeader {
	h := &FeatureHeader{v: v}
	h.Title = widget.NewLabel("No feature selected")
	h.Title.TextStyle.Bold = true
	h.Stats = widget.NewLabel("")
	h.Stats.Wrapping = fyne.TextWrapWord // never cut off (the maximum is last)
	h.Label = widget.NewEntry()
	h.Label.SetPlaceHolder("Label this feature (saved as you type)")
	h.Notes = widget.NewMultiLineEntry()
	h.Notes.Wrapping = fyne.TextWrapWord
	h.Notes.SetMinRowsVisible(1)
	h.Notes.SetPlaceHolder("Notes (saved as you type)")
	save := func(string) {
		if h.syncing || v.Feature() < 0 {
			return
		}
		v.SetEntry(v.Feature(), labels.Entry{Label: h.Label.Text, Notes: h.Notes.Text})
	}
	h.Label.OnChanged = save
	h.Notes.OnChanged = save
	h.Pin = widget.NewButtonWithIcon("Pin", theme.ContentAddIcon(), h.togglePin)
	v.OnPins(h.syncPin)
	h.Steer = widget.NewButtonWithIcon("Steer", theme.MediaFastForwardIcon(), func() { addToSteer(h.v, h.v.Feature()) })
	h.Neuronpedia = widget.NewButtonWithIcon("Neuronpedia", theme.ComputerIcon(), h.openNeuronpedia)
	h.openURL = func(u *url.URL) error {
		if a := fyne.CurrentApp(); a != nil {
			return a.OpenURL(u)
		}
		return fmt.Errorf("no application to open %s", u)
	}
	if v.SAE == nil || v.SAE.Weights.NeuronpediaID == "" {
		h.Neuronpedia.Hide()
	}
	h.content = container.NewVBox(
		container.NewBorder(nil, nil, h.Title, container.NewHBox(h.Neuronpedia, h.Steer, h.Pin), h.Label),
		h.Stats,
		h.Notes)
	v.OnFeature(func(int) { h.Update() })
	v.OnSuggestions(h.syncPlaceholder)
	v.OnStore(func(*store.Store) { h.Update() })
	h.Update()
	return h
}

// syncPlaceholder shows the selected feature's suggested label (greyed,
// in the empty label field) when there is one.
func (h *FeatureHeader) syncPlaceholder() {
	ph := "Label this feature (saved as you type)"
	if s := h.v.Suggested(h.v.Feature()); s != "" {
		ph = "Suggested: " + s
	}
	if h.Label.PlaceHolder != ph {
		h.Label.SetPlaceHolder(ph)
	}
}

// Content is the header's widget tree.
func (h *FeatureHeader) Content() fyne.CanvasObject { return h.content }

// togglePin pins the selected feature, or unpins it.
func (h *FeatureHeader) togglePin() {
	f, b := h.v.Feature(), h.v.Bench()
	if f >= 0 && b.Pinned(h.v, f) {
		b.Unpin(h.v, f)
		h.v.Message(fmt.Sprintf("Feature %d of %s unpinned.", f, h.v.Name()))
		return
	}
	if err := b.Pin(h.v, f); err != nil {
		h.v.Message(err.Error())
		return
	}
	h.v.Message(fmt.Sprintf("Feature %d of %s pinned: %d pinned, side by side in the Compare tab.", f, h.v.Name(), len(b.Pins())))
}

// NeuronpediaURL is the selected feature's page on Neuronpedia, "" when
// none is selected or Neuronpedia does not host the SAE.
func (h *FeatureHeader) NeuronpediaURL() string {
	if h.v.SAE == nil || h.v.Feature() < 0 {
		return ""
	}
	return catalog.NeuronpediaURL(h.v.SAE.Weights.NeuronpediaID, h.v.Feature())
}

// openNeuronpedia opens the selected feature's Neuronpedia page in the
// browser, to compare with its explanations there.
func (h *FeatureHeader) openNeuronpedia() {
	addr := h.NeuronpediaURL()
	if addr == "" {
		return
	}
	u, err := url.Parse(addr)
	if err == nil {
		err = h.openURL(u)
	}
	if err != nil {
		h.v.Message(fmt.Sprintf("Could not open %s: %v", addr, err))
		return
	}
	h.v.Message("Opened " + addr + " in the browser.")
}

// syncPin shows whether the selected feature is pinned.
func (h *FeatureHeader) syncPin() {
	f := h.v.Feature()
	switch {
	case f < 0:
		h.Pin.SetText("Pin")
		h.Pin.SetIcon(theme.ContentAddIcon())
		h.Pin.Disable()
		h.Steer.Disable()
		h.Neuronpedia.Disable()
	case h.v.Bench().Pinned(h.v, f):
		h.Pin.Enable()
		h.Pin.SetText("Unpin")
		h.Pin.SetIcon(theme.ContentRemoveIcon())
	default:
		h.Pin.Enable()
		h.Pin.SetText("Pin")
		h.Pin.SetIcon(theme.ContentAddIcon())
	}
}

// Update shows the selected feature.
func (h *FeatureHeader) Update() {
	f := h.v.Feature()
	h.syncing = true
	defer func() { h.syncing = false }()
	h.syncPin()
	if f < 0 {
		h.Title.SetText("No feature selected")
		h.Stats.SetText(fmt.Sprintf("%s: %d features. Pick one in the ranking, in elicitation, or type its id.", h.v.Name(), h.v.DSae()))
		h.Label.SetText("")
		h.Notes.SetText("")
		h.Label.Disable()
		h.Notes.Disable()
		return
	}
	h.Label.Enable()
	h.Notes.Enable()
	h.Steer.Enable()
	h.Neuronpedia.Enable()
	h.Title.SetText(fmt.Sprintf("Feature %d", f))
	h.syncPlaceholder()
	e := h.v.Entry(f)
	if h.Label.Text != e.Label {
		h.Label.SetText(e.Label)
	}
	if h.Notes.Text != e.Notes {
		h.Notes.SetText(e.Notes)
	}
	name := h.v.Name()
	if h.v.SAE != nil {
		if w := h.v.SAE.Weights; (w.Arch != "" && w.Arch != sae.Standard) || w.Transcoder || w.Hook.Point == hookname.AttnZ || w.FoldedDecoderNorm {
			name += " · " + w.Describe()
		}
	}
	st := h.v.Store()
	if st == nil {
		h.Stats.SetText(name + " · not analysed yet: no statistics")
		return
	}
	s, err := st.Stats(f)
	if err != nil {
		h.Stats.SetText(err.Error())
		return
	}
	if s.Dead {
		h.Stats.SetText(fmt.Sprintf("%s · dead: never fires on the %s tokens scanned", name, numfmt.Thousands(st.Meta.Summary.Tokens)))
		return
	}
	h.Stats.SetText(fmt.Sprintf("%s · mean %s · σ/μ %s · frequency %s (%s) · max %s",
		name, fnum(s.Mean), fnum(s.CV), fpercent(s.Frequency), nOf(s.Count, "token"), fnum(s.Max)))
}
