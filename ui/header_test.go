package ui

import (
	"net/url"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
)

// The header offers "Neuronpedia" for an SAE Neuronpedia hosts, opening
// the selected feature's page there; for other SAEs the button is hidden.
func TestHeaderNeuronpediaLink(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	h := NewFeatureHeader(v)
	if h.Neuronpedia.Visible() {
		t.Error("Neuronpedia offered for an SAE it does not host")
	}
	id := v.SAE.Weights.NeuronpediaID
	v.SAE.Weights.NeuronpediaID = "gpt2-small/9-res-jb"
	defer func() { v.SAE.Weights.NeuronpediaID = id }()
	h = NewFeatureHeader(v)
	if !h.Neuronpedia.Visible() {
		t.Fatal("no Neuronpedia button for a hosted SAE")
	}
	var opened string
	h.openURL = func(u *url.URL) error { opened = u.String(); return nil }
	if err := v.Select(1234 % v.DSae()); err != nil {
		t.Fatal(err)
	}
	test.Tap(h.Neuronpedia)
	want := "https://www.neuronpedia.org/gpt2-small/9-res-jb/" + itoa(1234%v.DSae())
	if opened != want {
		t.Errorf("opened %q, want %q", opened, want)
	}
	if !strings.Contains(h.NeuronpediaURL(), "9-res-jb") {
		t.Errorf("URL %q", h.NeuronpediaURL())
	}
}
