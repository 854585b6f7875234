package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
)

func sampleTokens(n int) []Token {
	words := []string{"The", "·quick", "·brown", "·fox", "↩", "→", "·jumps", "·over"}
	out := make([]Token, n)
	for i := range out {
		out[i] = Token{Text: words[i%len(words)], ID: 100 + i, Value: float32(i%5) / 4}
	}
	return out
}

func TestTokenStripWrapsToWidth(t *testing.T) {
	test.NewTempApp(t)
	s := NewTokenStrip()
	s.SetTokens(sampleTokens(40), 1, 3)
	box := container.NewVBox(s)
	show(t, container.NewVScroll(box), 300, 400)
	one := s.chipH
	if s.Size().Width > 300 || s.MinSize().Height < 3*one {
		t.Fatalf("40 chips in 300 px: size %v, min %v", s.Size(), s.MinSize())
	}
	// every chip inside the strip's width, none overlapping the next
	for i, p := range s.pos {
		if p.X+s.widths[i] > s.Size().Width+0.5 {
			t.Errorf("chip %d overflows: x %.0f w %.0f", i, p.X, s.widths[i])
		}
		if i > 0 && p.Y == s.pos[i-1].Y && p.X < s.pos[i-1].X+s.widths[i-1] {
			t.Errorf("chip %d overlaps chip %d", i, i-1)
		}
	}
	// a wider strip needs fewer rows
	tall := s.MinSize().Height
	s.Resize(fyne.NewSize(900, tall))
	if s.MinSize().Height >= tall {
		t.Errorf("wider strip is not shorter: %v vs %v", s.MinSize().Height, tall)
	}
}

func TestTokenStripHoverAndTap(t *testing.T) {
	test.NewTempApp(t)
	s := NewTokenStrip()
	toks := sampleTokens(6)
	s.SetTokens(toks, 1, -1)
	show(t, s, 600, 100)
	var hovered, tapped = -2, -2
	s.OnHover = func(i int) { hovered = i }
	s.OnTapped = func(i int) { tapped = i }
	p := s.pos[2].Add(fyne.NewPos(3, 3))
	s.MouseIn(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: p}})
	if hovered != 2 {
		t.Errorf("hovered %d, want 2", hovered)
	}
	s.MouseOut()
	if hovered != -1 {
		t.Errorf("after leaving: %d", hovered)
	}
	test.TapAt(s, s.pos[4].Add(fyne.NewPos(2, 2)))
	if tapped != 4 {
		t.Errorf("tapped %d, want 4", tapped)
	}
	if toks[2].Describe() != `token "·brown" · id 102 · activation 0.500` {
		t.Errorf("describe: %s", toks[2].Describe())
	}
}

func TestTokenStripChipColours(t *testing.T) {
	test.NewTempApp(t)
	s := NewTokenStrip()
	s.SetTokens([]Token{{Text: "a", Value: 0}, {Text: "b", Value: 2}}, 2, 1)
	bg0, fg0 := s.ChipColours(0)
	bg1, fg1 := s.ChipColours(1)
	if bg0 != ActivationColour(0, 2) || fg0 != darkText {
		t.Errorf("chip 0: %v on %v", fg0, bg0)
	}
	if bg1 != ActivationColour(2, 2) || fg1 != lightText {
		t.Errorf("chip 1: %v on %v", fg1, bg1)
	}
	if s.Marked() != 1 {
		t.Error("marked chip")
	}
}

func TestLongTextsStopWrapping(t *testing.T) {
	for text, want := range map[string]bool{
		"short text":                             false,
		strings.Repeat("word ", 2000):            true,
		strings.Repeat("word\n", 2000):           false,
		strings.Repeat("x", 201):                 true,
		strings.Repeat("abc ", 50) + "\n" + "ok": false,
	} {
		if got := needsNoWrap(text); got != want {
			t.Errorf("needsNoWrap(%.20q…) = %v", text, got)
		}
	}
}
