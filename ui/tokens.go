package ui

import (
	"fmt"
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Token is one chip of a TokenStrip.
type Token struct {
	Text  string  // display text (space ·, newline ↩, tab →)
	ID    int     // vocabulary id
	Value float32 // the activation coloured
	// Raw describes the byte-level tokens of a chip that joins several
	// to show the characters they form (their ids and raw bytes); empty
	// for a chip of one token. ID and Value are then the strongest
	// token's.
	Raw string
}

// Describe is the hover text of a token.
func (t Token) Describe() string {
	if t.Raw != "" {
		return fmt.Sprintf("%q · %s · activation %.3f (id %d, the strongest)", t.Text, t.Raw, t.Value, t.ID)
	}
	return fmt.Sprintf("token %q · id %d · activation %.3f", t.Text, t.ID, t.Value)
}

// chipStyle is the chips' text style: Fyne's bundled monospace font
// (DejaVu Sans Mono) has the glyphs of the display conventions (· ↩ →)
// on every system, where its proportional font (Noto Sans) lacks ↩ and →
// and would fall back to a colour emoji or to whatever the system has.
var chipStyle = fyne.TextStyle{Monospace: true}

// Chip geometry.
const (
	chipPadX   = 3
	chipPadY   = 2
	chipGapX   = 2
	chipGapY   = 3
	chipMinW   = 8
	markStroke = 2
)

// TokenStrip shows a run of tokens as chips coloured by their activation
// on the diverging scale, wrapped to the strip's width. One chip may be
// marked (the activating token: outlined). It reports the chip under
// the pointer (OnHover) and taps (OnTapped).
type TokenStrip struct {
	widget.BaseWidget

	// OnHover is called with the index of the chip under the pointer, or
	// -1 when the pointer leaves the chips.
	OnHover func(i int)
	// OnTapped is called with the index of a tapped chip.
	OnTapped func(i int)

	tokens []Token
	scale  float32
	marked int
	hover  int

	// layout cache
	textSize    float32
	chipH       float32
	widths      []float32
	maxW        float32
	laidWidth   float32
	pos         []fyne.Position
	height      float32
	measureDone bool

	// offscreen: the strip lies outside its scroll's view (contextList
	// culls): it keeps its size but draws nothing, so that a list of
	// thirty contexts costs the renderer only the few in view.
	offscreen bool
}

var _ fyne.Tappable = (*TokenStrip)(nil)
var _ desktop.Hoverable = (*TokenStrip)(nil)

// NewTokenStrip returns an empty strip.
func NewTokenStrip() *TokenStrip {
	s := &TokenStrip{marked: -1, hover: -1}
	s.ExtendBaseWidget(s)
	return s
}

// SetTokens replaces the chips: scale is the activation that saturates the
// colour, marked the chip to outline (-1 for none). A chip under the
// pointer is described again (OnHover) with its new value when the run
// of tokens keeps its length (the same text recoloured for another
// feature); otherwise the hover line is reset, never left describing a
// value no longer shown.
func (s *TokenStrip) SetTokens(tokens []Token, scale float32, marked int) {
	hover, same := s.hover, len(tokens) == len(s.tokens)
	s.tokens, s.scale, s.marked, s.hover = tokens, scale, marked, -1
	s.measureDone = false
	s.laidWidth = -1
	s.Refresh()
	if hover >= 0 {
		if same {
			s.setHover(hover)
		} else if s.OnHover != nil {
			s.OnHover(-1)
		}
	}
}

// setOffscreen says whether the strip lies outside its scroll's view: it
// then draws nothing (its size is unchanged).
func (s *TokenStrip) setOffscreen(off bool) {
	if s.offscreen == off {
		return
	}
	s.offscreen = off
	s.Refresh()
}

// SetMarked outlines chip i (-1 for none).
func (s *TokenStrip) SetMarked(i int) {
	if i == s.marked {
		return
	}
	s.marked = i
	s.measureDone = false
	s.laidWidth = -1
	s.Refresh()
}

// Tokens returns the chips shown.
func (s *TokenStrip) Tokens() []Token { return s.tokens }

// Marked returns the outlined chip, -1 for none.
func (s *TokenStrip) Marked() int { return s.marked }

// Scale returns the colour scale's saturation value.
func (s *TokenStrip) Scale() float32 { return s.scale }

// ChipColours returns chip i's background and text colours.
func (s *TokenStrip) ChipColours(i int) (bg, fg color.NRGBA) {
	bg = ActivationColour(s.tokens[i].Value, s.scale)
	return bg, TextColourOn(bg)
}

func (s *TokenStrip) measure() {
	if s.measureDone {
		return
	}
	s.textSize = theme.TextSize()
	s.widths = s.widths[:0]
	s.maxW = 0
	var h float32
	for _, t := range s.tokens {
		sz := fyne.MeasureText(t.Text, s.textSize, chipStyle)
		w := max(sz.Width+2*chipPadX, chipMinW)
		s.widths = append(s.widths, w)
		s.maxW = max(s.maxW, w)
		h = max(h, sz.Height)
	}
	if h == 0 {
		h = fyne.MeasureText("M", s.textSize, chipStyle).Height
	}
	s.chipH = h + 2*chipPadY
	s.measureDone = true
}

// flow places the chips for width and returns the height used.
func (s *TokenStrip) flow(width float32) float32 {
	s.measure()
	if width == s.laidWidth && len(s.pos) == len(s.tokens) {
		return s.height
	}
	s.pos = s.pos[:0]
	var x, y float32
	for _, w := range s.widths {
		if x > 0 && x+w > width {
			x, y = 0, y+s.chipH+chipGapY
		}
		s.pos = append(s.pos, fyne.NewPos(x, y))
		x += w + chipGapX
	}
	s.height = 0
	if len(s.tokens) > 0 {
		s.height = y + s.chipH
	}
	s.laidWidth = width
	return s.height
}

// MinSize is the widest chip by the height of the chips wrapped to the
// current width (one row before the strip has a width).
func (s *TokenStrip) MinSize() fyne.Size {
	s.ExtendBaseWidget(s)
	s.measure()
	w := s.Size().Width
	if w <= 0 {
		w = 1e9
	}
	return fyne.NewSize(s.maxW, s.flow(w))
}

// Resize re-wraps the chips; a new height reaches the parent's layout
// through MinSize on the next frame.
func (s *TokenStrip) Resize(size fyne.Size) {
	if size == s.Size() {
		return
	}
	oldH := s.height
	s.BaseWidget.Resize(size)
	if s.flow(size.Width) != oldH {
		s.Refresh()
	}
}

// chipAt returns the chip under p, -1 for none.
func (s *TokenStrip) chipAt(p fyne.Position) int {
	s.flow(s.Size().Width)
	for i, q := range s.pos {
		if p.X >= q.X && p.X < q.X+s.widths[i] && p.Y >= q.Y && p.Y < q.Y+s.chipH {
			return i
		}
	}
	return -1
}

func (s *TokenStrip) setHover(i int) {
	if i == s.hover {
		return
	}
	s.hover = i
	s.Refresh()
	if s.OnHover != nil {
		s.OnHover(i)
	}
}

// MouseIn implements desktop.Hoverable.
func (s *TokenStrip) MouseIn(e *desktop.MouseEvent) { s.setHover(s.chipAt(e.Position)) }

// MouseMoved implements desktop.Hoverable.
func (s *TokenStrip) MouseMoved(e *desktop.MouseEvent) { s.setHover(s.chipAt(e.Position)) }

// MouseOut implements desktop.Hoverable.
func (s *TokenStrip) MouseOut() { s.setHover(-1) }

// Tapped implements fyne.Tappable.
func (s *TokenStrip) Tapped(e *fyne.PointEvent) {
	if i := s.chipAt(e.Position); i >= 0 && s.OnTapped != nil {
		s.OnTapped(i)
	}
}

// CreateRenderer implements fyne.Widget.
func (s *TokenStrip) CreateRenderer() fyne.WidgetRenderer {
	r := &stripRenderer{s: s, hover: canvas.NewRectangle(color.Transparent)}
	r.hover.StrokeWidth = 1
	r.Refresh()
	return r
}

type stripRenderer struct {
	s       *TokenStrip
	bgs     []*canvas.Rectangle
	texts   []*canvas.Text
	hover   *canvas.Rectangle
	objects []fyne.CanvasObject
}

func (r *stripRenderer) Destroy() {}

func (r *stripRenderer) MinSize() fyne.Size { return r.s.MinSize() }

func (r *stripRenderer) Objects() []fyne.CanvasObject { return r.objects }

func (r *stripRenderer) Layout(size fyne.Size) {
	s := r.s
	s.flow(size.Width)
	for i := range s.tokens {
		if s.offscreen {
			break // nothing drawn
		}
		p := s.pos[i]
		r.bgs[i].Move(p)
		r.bgs[i].Resize(fyne.NewSize(s.widths[i], s.chipH))
		t := r.texts[i]
		ts := t.MinSize()
		t.Move(fyne.NewPos(p.X+(s.widths[i]-ts.Width)/2, p.Y+(s.chipH-ts.Height)/2))
		t.Resize(ts)
	}
	if s.hover >= 0 && s.hover < len(s.pos) {
		p := s.pos[s.hover]
		r.hover.Move(fyne.NewPos(p.X-1, p.Y-1))
		r.hover.Resize(fyne.NewSize(s.widths[s.hover]+2, s.chipH+2))
		r.hover.Show()
	} else {
		r.hover.Hide()
	}
}

func (r *stripRenderer) Refresh() {
	s := r.s
	s.measure()
	n := len(s.tokens)
	for len(r.bgs) < n {
		r.bgs = append(r.bgs, canvas.NewRectangle(color.Transparent))
		r.texts = append(r.texts, canvas.NewText("", color.Black))
	}
	r.objects = r.objects[:0]
	if s.offscreen {
		n = 0 // out of view: nothing to draw (MinSize still measures every chip)
	}
	for i := 0; i < n; i++ {
		bg, fg := s.ChipColours(i)
		b, t := r.bgs[i], r.texts[i]
		b.FillColor = bg
		b.CornerRadius = 3
		t.Text, t.Color, t.TextSize = s.tokens[i].Text, fg, s.textSize
		t.TextStyle = chipStyle
		b.StrokeWidth = 0
		if i == s.marked {
			b.StrokeColor, b.StrokeWidth = markColour(), markStroke
		}
		r.objects = append(r.objects, b, t)
	}
	r.hover.StrokeColor = theme.Color(theme.ColorNameForeground)
	r.objects = append(r.objects, r.hover)
	r.Layout(s.Size())
	for _, o := range r.objects {
		o.Refresh()
	}
}

// markColour outlines the marked token (the activating one, or the chosen
// position): the theme's primary colour, a blue that stands out against
// white and red chips and against both themes' backgrounds.
func markColour() color.Color { return theme.Color(theme.ColorNamePrimary) }
