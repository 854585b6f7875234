package ui

import (
	"fmt"
	"image/color"
	"io"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/internal/numfmt"
	"github.com/saescope/saescope/ui/htmlexport"
)

// chipColours are the token chips' colours, for the HTML export.
func chipColours(v, scale float32) (bg, fg color.NRGBA) {
	bg = ActivationColour(v, scale)
	return bg, TextColourOn(bg)
}

// ContextsReport is feature f's top k contexts (prefix tokens before,
// suffix after; one per corpus row unless allWindows) as an HTML report,
// with the feature's numbers and the analysis' summary in its header (UI
// thread: it reads the label book). Tokens are shown as the Contexts
// pane shows them (byte-level tokens joined into their characters).
func ContextsReport(v *View, f, k, prefix, suffix int, allWindows bool) (htmlexport.Report, error) {
	st := v.Store()
	if st == nil {
		return htmlexport.Report{}, fmt.Errorf("%s has not been analysed yet: no contexts to export", v.Name())
	}
	s, err := st.Stats(f)
	if err != nil {
		return htmlexport.Report{}, err
	}
	e := v.Entry(f)
	m := st.Meta
	sum := m.Summary
	r := htmlexport.Report{
		Title: fmt.Sprintf("Feature %d · %s", f, v.Name()),
		Label: e.Label,
		Notes: e.Notes,
		Scale: float32(s.Max),
	}
	stats := fmt.Sprintf("mean %s · σ/μ %s · fires on %s of tokens (%s) · max %s",
		fnum(s.Mean), fnum(s.CV), fpercent(s.Frequency), numfmt.Thousands(s.Count), fnum(s.Max))
	if s.Dead {
		stats = "dead: never fires"
	}
	r.Fields = []htmlexport.Field{
		{Name: "Feature", Value: fmt.Sprintf("%d of %d", f, st.DSae())},
		{Name: "Statistics", Value: stats},
		{Name: "SAE", Value: fmt.Sprintf("%s · hook %s · d_in %d", v.SAE.Path, m.Hook, m.DIn)},
		{Name: "Model", Value: m.Model.Path},
		{Name: "Corpus", Value: fmt.Sprintf("%s · %s rows of %d tokens · %s tokens counted", m.Corpus.Describe(), numfmt.Thousands(m.Params.Rows), m.Params.SeqLen, numfmt.Thousands(sum.Tokens))},
		{Name: "Analysis", Value: fmt.Sprintf("L0 %.1f (random directions %.1f) · %s dead features · reconstruction score %s",
			sum.L0, sum.RandomL0, numfmt.Thousands(sum.Dead), fmtReconScore(sum))},
		{Name: "Contexts", Value: fmt.Sprintf("top %d activations%s, %d tokens before and %d after", k, perRowNote(allWindows), prefix, suffix)},
	}
	if !s.Dead {
		ctxs, err := st.TopContexts(f, k, prefix, suffix)
		if !allWindows {
			ctxs, err = st.TopContexts(f, store.TopK, prefix, suffix)
			ctxs = onePerRow(ctxs, k)
		}
		if err != nil {
			return r, err
		}
		for _, c := range ctxs {
			d := copyContext(v, c, "")
			hc := htmlexport.Context{Value: c.Value, Where: d.where, Marked: d.marked}
			for _, t := range d.tokens {
				hc.Tokens = append(hc.Tokens, htmlexport.Token{Text: t.Text, ID: t.ID, Value: t.Value})
			}
			r.Contexts = append(r.Contexts, hc)
		}
	}
	return r, nil
}

// ExportContexts asks where to save feature f's contexts as HTML and
// writes them; done (may be nil) gets the outcome.
func (v *View) ExportContexts(f, k, prefix, suffix int, allWindows bool, done func(path string, err error)) {
	r, err := ContextsReport(v, f, k, prefix, suffix, allWindows)
	if err != nil {
		if done != nil {
			done("", err)
		}
		return
	}
	v.Export("the contexts", fileStem(v.Name(), fmt.Sprintf("feature-%d-contexts", f))+".html", func(_ string, w io.Writer) error {
		return htmlexport.Write(w, r, chipColours)
	}, done)
}

// perRowNote says how contexts were chosen: one per corpus row (the
// default) or every window.
func perRowNote(allWindows bool) string {
	if allWindows {
		return " (every window, several of one row among them)"
	}
	return " (one per corpus row)"
}
