package ui

import (
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/workspace"
)

// The notebook's two elicitation examples.
const (
	ExampleCountries = "Afghanistan, Bangladesh, Burkina Faso, Cambodia, Ethiopia, Haiti, Kenya, Madagascar, Malawi, Mali, Mozambique, Nepal, Niger, Rwanda, Tanzania, Uganda"
	ExampleAskNot    = "Ask not what your country can do for you, ask what you can do for your country."
	ExampleAskNotPos = -4
)

// Elicitation modes.
const (
	modeMean = "Mean over positions"
	modePos  = "At position"
)

// DefaultTopK is the number of features elicitation lists at first.
const DefaultTopK = 10

// maxTopK bounds the list.
const maxTopK = 500

// ElicitPane lists the features a typed text elicits most: averaged over
// its positions (BOS dropped), or at one position, chosen by typing it
// (negative counts from the end) or by clicking a token. Clicking a result
// selects that feature everywhere.
type ElicitPane struct {
	v       *View
	content fyne.CanvasObject

	Text     *textEntry
	KEntry   *widget.Entry
	Mode     *widget.RadioGroup
	PosEntry *widget.Entry
	Strip    *TokenStrip
	Results  *HeaderTable
	Summary  *widget.Label
	Msg      *widget.Label
	Hover    *widget.Label

	live    *liveEncoder
	msg     *paneMsg
	acts    *workspace.TextActs
	k       int
	pos     *int
	top     []features.Ranked
	syncing bool
}

// NewElicitPane builds the elicitation pane of v.
func NewElicitPane(v *View) *ElicitPane {
	p := &ElicitPane{v: v, k: DefaultTopK}
	p.live = newLiveEncoder(v, p.result)
	p.Text = newLiveText(p.live, 2, "Type text to list the features it elicits.")

	p.KEntry = widget.NewEntry()
	p.KEntry.SetText(fmt.Sprint(p.k))
	p.KEntry.OnChanged = func(s string) {
		k, err := parseInt(s)
		if err == nil && (k < 1 || k > maxTopK) {
			err = fmt.Errorf("top-k must be between 1 and %d", maxTopK)
		}
		if err != nil {
			p.msg.field("k", "top-k: "+err.Error())
			return
		}
		p.msg.field("k", "")
		p.k = k
		p.rank()
	}
	p.PosEntry = widget.NewEntry()
	p.PosEntry.SetPlaceHolder("e.g. -4")
	p.PosEntry.OnChanged = func(s string) {
		if p.syncing {
			return
		}
		if strings.TrimSpace(s) == "" {
			p.msg.field("pos", "")
			p.pos = nil
			p.rank()
			return
		}
		n, err := parseInt(s)
		if err != nil {
			p.msg.field("pos", "position: "+err.Error())
			return
		}
		p.msg.field("pos", "")
		p.setPos(&n)
	}
	p.Mode = widget.NewRadioGroup([]string{modeMean, modePos}, func(m string) {
		if p.syncing {
			return
		}
		if m == modePos {
			n, err := parseInt(p.PosEntry.Text)
			if err != nil {
				n = -1
			}
			p.setPos(&n)
			return
		}
		p.setPos(nil)
	})
	p.Mode.Required = true
	p.Mode.SetSelected(modeMean)

	p.Strip = NewTokenStrip()
	p.Hover = widget.NewLabel("Click a token to rank the features at that position.")
	p.Hover.Truncation = fyne.TextTruncateEllipsis
	p.Hover.TextStyle = chipStyle // the token text has the chips' glyphs
	p.Strip.OnHover = func(i int) {
		if i < 0 {
			p.Hover.SetText("Click a token to rank the features at that position.")
			return
		}
		n := len(p.Strip.Tokens())
		p.Hover.SetText(fmt.Sprintf("position %d (%d from the end) · %s", i, i-n, p.Strip.Tokens()[i].Describe()))
	}
	p.Strip.OnTapped = func(i int) { p.setPos(&i) }

	p.Results = NewHeaderTable(
		func() (int, int) { return len(p.top), 4 },
		func() fyne.CanvasObject {
			l := widget.NewLabel("000000")
			l.Truncation = fyne.TextTruncateEllipsis
			// a suggested label greyed, as in the ranking
			return container.NewThemeOverride(l, overrideTheme{placeholderForDisabled: true})
		},
		p.updateResult)
	p.Results.CreateHeader = func() fyne.CanvasObject { return widget.NewLabel("") }
	p.Results.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		o.(*widget.Label).SetText([]string{"#", "Feature", "Activation", "Label"}[id.Col])
	}
	for c, w := range []float32{40, 72, 92, 150} {
		p.Results.SetColumnWidth(c, w)
	}
	p.Results.OnSelected = func(id widget.TableCellID) {
		if id.Row < 0 || id.Row >= len(p.top) {
			return
		}
		f := p.top[id.Row].ID
		p.Results.UnselectAll()
		if err := v.Select(f); err != nil {
			p.msg.setResult(err.Error())
		}
	}

	p.Summary = widget.NewLabel("")
	p.Summary.Wrapping = fyne.TextWrapWord
	p.Msg = newMessageLine(widget.DangerImportance)
	p.msg = newPaneMsg(p.Msg)

	ex1 := widget.NewButton("Example: developing countries", func() { p.Example(ExampleCountries, nil) })
	ex2 := widget.NewButton("Example: “Ask not…” at -4", func() {
		n := ExampleAskNotPos
		p.Example(ExampleAskNot, &n)
	})
	small := func(o fyne.CanvasObject, w float32) fyne.CanvasObject {
		return container.NewGridWrap(fyne.NewSize(w, o.MinSize().Height), o)
	}
	// The text, its tokens and the controls on the left, the results on
	// the right, full height: all ten rows of the default top 10 show at
	// 1280×800.
	mode := container.NewBorder(nil, nil, nil, container.NewVBox(layout.NewSpacer(), small(p.PosEntry, 72)), p.Mode)
	controls := container.NewVBox(container.NewHBox(widget.NewLabel("Top"), small(p.KEntry, 64)), mode)
	top := container.NewVBox(ex1, ex2, p.Text, controls, p.Msg)
	left := container.NewBorder(top, container.NewVBox(p.Hover, p.Summary), nil, nil,
		container.NewVScroll(container.NewPadded(p.Strip)))
	split := container.NewHSplit(left, p.Results)
	split.Offset = 0.45
	p.content = split

	v.OnFeature(func(int) {
		p.recolour()
		p.Results.Refresh()
	})
	v.OnLabel(func(int) { p.Results.Refresh() })
	v.OnSuggestions(p.Results.Refresh) // more suggested labels computed
	return p
}

// Content is the pane's widget tree.
func (p *ElicitPane) Content() fyne.CanvasObject { return p.content }

// Settle waits for the runs of typed text to finish (tests).
func (p *ElicitPane) Settle() { p.live.Settle() }

// Top returns the features listed.
func (p *ElicitPane) Top() []features.Ranked { return p.top }

// Pos returns the chosen position (nil: mean over positions).
func (p *ElicitPane) Pos() *int { return p.pos }

// Example types text and chooses pos (nil: mean over positions).
func (p *ElicitPane) Example(text string, pos *int) {
	p.setPos(pos)
	p.Text.SetText(text)
}

// setPos chooses a position (nil for the mean) and updates the controls.
func (p *ElicitPane) setPos(pos *int) {
	p.syncing = true
	if pos == nil {
		p.Mode.SetSelected(modeMean)
	} else {
		p.Mode.SetSelected(modePos)
		if cur, err := parseInt(p.PosEntry.Text); err != nil || cur != *pos {
			p.PosEntry.SetText(fmt.Sprint(*pos))
		}
	}
	p.syncing = false
	p.pos = pos
	p.rank()
}

func (p *ElicitPane) result(text string, ta *workspace.TextActs, err error, _ time.Time) {
	if err != nil {
		if text == p.Text.Text {
			p.acts = nil
			p.top = nil
			p.msg.setResult(err.Error())
			p.Strip.SetTokens(nil, 1, -1)
			p.Summary.SetText("")
			p.Results.Refresh()
		}
		return
	}
	p.acts = ta
	p.rank()
}

// rank lists the top-k features of the text for the mode chosen.
func (p *ElicitPane) rank() {
	ta := p.acts
	if ta == nil {
		return
	}
	p.recolour()
	top, err := ta.Elicit(p.k, p.pos)
	if err != nil {
		p.top = nil
		p.msg.setResult(err.Error())
		p.Summary.SetText("")
		p.Results.Refresh()
		return
	}
	p.msg.setResult("")
	// features that do not fire are not listed: the top k of fewer than
	// k firing features would fill the table with zeros
	asked := len(top)
	fire := top[:0]
	for _, r := range top {
		if r.Value > 0 {
			fire = append(fire, r)
		}
	}
	top = fire
	p.top = top
	n := len(ta.Tokens) - 1
	if p.pos == nil {
		p.Summary.SetText(fmt.Sprintf("Top %s averaged over the text's %s (BOS dropped). Click one to select it.", nOf(len(top), "feature"), nOf(n, "token")))
	} else {
		at := *p.pos
		if at < 0 {
			at += n
		}
		p.Summary.SetText(fmt.Sprintf("Top %s at position %d (%d from the end): %q. Click one to select it.",
			nOf(len(top), "feature"), at, at-n, ta.Display[at+1]))
	}
	if len(top) < asked {
		fires := nOf(len(top), "feature") + " fire"
		if len(top) == 1 {
			fires += "s"
		}
		p.Summary.SetText(p.Summary.Text + fmt.Sprintf(" Only %s here; the rest are 0.", fires))
	}
	if ta.Truncated {
		p.Summary.SetText(p.Summary.Text + fmt.Sprintf(" The text was cut to the model's %d-token context.", len(ta.Tokens)))
	}
	p.Results.Refresh()
}

// recolour shows the text's tokens coloured by the selected feature, the
// chosen position outlined.
func (p *ElicitPane) recolour() {
	ta := p.acts
	if ta == nil || len(ta.Tokens) < 2 {
		p.Strip.SetTokens(nil, 1, -1)
		return
	}
	n := len(ta.Tokens) - 1
	marked := -1
	if p.pos != nil {
		marked = *p.pos
		if marked < 0 {
			marked += n
		}
		if marked < 0 || marked >= n {
			marked = -1
		}
	}
	toks := plainTokens(ta)
	var scale float32 = 1
	if f := p.v.Feature(); f >= 0 {
		vals := ta.Feature(f)[1:]
		scale = 0
		for i, v := range vals {
			toks[i].Value = v
			scale = max(scale, v)
		}
		if scale == 0 {
			scale = 1
		}
	}
	p.Strip.SetTokens(toks, scale, marked)
}

func (p *ElicitPane) updateResult(id widget.TableCellID, o fyne.CanvasObject) {
	l := cellLabel(o)
	if id.Row < 0 || id.Row >= len(p.top) {
		l.SetText("")
		return
	}
	r := p.top[id.Row]
	var text string
	imp := widget.MediumImportance
	switch id.Col {
	case 0:
		text = fmt.Sprint(id.Row + 1)
	case 1:
		text = fmt.Sprint(r.ID)
	case 2:
		text = fmt.Sprintf("%.4f", r.Value)
	case 3:
		if text = p.v.Label(r.ID); text == "" {
			// the suggested label (suggestions.go), greyed, until one is typed
			text, imp = p.v.SuggestedShort(r.ID), widget.LowImportance
		}
	}
	bold := r.ID == p.v.Feature()
	if l.Text != text || l.TextStyle.Bold != bold || l.Importance != imp {
		l.Text, l.TextStyle.Bold, l.Importance = text, bold, imp
		l.Refresh()
	}
}
