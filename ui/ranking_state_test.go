package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/ui/labels"
)

// The range and search fields, the table and the status line describe
// the same rows after every step (issue 20, item 2): a range excludes
// its end and says so; an id outside the range shows every feature and
// empties the range field; a search inside a range keeps both; a search
// with no match empties the table; Show all empties both fields.
func TestRankingStateInStep(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewRankingPane(v)
	show(t, p.Content(), 600, 700)
	live := p.Ranking().Live
	// check says what is wrong with the fields, rows and status line.
	check := func(step, rangeText, findText string, wantRanks []int, info ...string) {
		t.Helper()
		if p.RangeEntry.Text != rangeText || p.FindEntry.Text != findText {
			t.Errorf("%s: fields %q and %q, want %q and %q", step, p.RangeEntry.Text, p.FindEntry.Text, rangeText, findText)
		}
		if len(p.Ranks()) != len(wantRanks) {
			t.Errorf("%s: %d rows, want %d", step, len(p.Ranks()), len(wantRanks))
		} else {
			for i, r := range wantRanks {
				if p.Ranks()[i] != r || p.Rows()[i] != live[r] {
					t.Errorf("%s: row %d is rank %d (feature %d), want rank %d", step, i, p.Ranks()[i], p.Rows()[i].ID, r)
					break
				}
			}
		}
		for _, s := range info {
			if !strings.Contains(p.Info.Text, s) {
				t.Errorf("%s: status line %q lacks %q", step, p.Info.Text, s)
			}
		}
	}
	span := func(lo, hi int) []int {
		var out []int
		for r := lo; r < hi; r++ {
			out = append(out, r)
		}
		return out
	}

	p.RangeEntry.SetText("10-20")
	p.ApplyRange()
	check("range 10-20", "10-20", "", span(10, 20), "anks 10–19 (10-20, end excluded)")

	// an id outside the range: selected, every feature shown, fields emptied
	far := live[100].ID
	p.FindEntry.SetText(itoa(far))
	p.Find()
	if v.Feature() != far {
		t.Errorf("find %d selected %d", far, v.Feature())
	}
	check("id outside the range", "", "", span(0, len(live)), "All "+itoa(len(live))+" live features")
	if !strings.Contains(p.Msg.Text, "rank 100") {
		t.Errorf("id outside the range: message %q", p.Msg.Text)
	}

	// an id inside the range keeps it
	p.RangeEntry.SetText("10-20")
	p.ApplyRange()
	p.FindEntry.SetText(itoa(live[15].ID))
	p.Find()
	check("id inside the range", "10-20", "", span(10, 20), "anks 10–19")

	// a search inside a range: both apply
	v.SetEntry(live[12].ID, labels.Entry{Label: "quotes"})
	v.SetEntry(live[50].ID, labels.Entry{Notes: "closing quotes"})
	p.FindEntry.SetText("quotes")
	p.Find()
	check("search inside the range", "10-20", "quotes", []int{12}, `1 with "quotes"`, "anks 10–19")
	// removing the range keeps the search
	p.RangeEntry.SetText("")
	p.ApplyRange()
	check("search without the range", "", "quotes", []int{12, 50}, `2 of `+itoa(len(live))+` live with "quotes"`)

	// no match: the table is empty and the message says why
	p.FindEntry.SetText("no such label")
	p.Find()
	check("no match", "", "no such label", nil, `0 of`)
	if !p.Msg.Visible() || !strings.Contains(p.Msg.Text, "No feature") {
		t.Errorf("no match: message %q", p.Msg.Text)
	}

	// Show all empties both fields
	p.RangeEntry.SetText("30-40")
	p.ApplyRange()
	p.FindEntry.SetText("quotes")
	p.Find()
	p.ShowAll()
	check("show all", "", "", span(0, len(live)), "All ")
	if p.Msg.Visible() {
		t.Errorf("show all: message %q", p.Msg.Text)
	}

	// a single rank reads as 50 ranks, and the field says so
	p.RangeEntry.SetText("20")
	p.ApplyRange()
	check("one rank", "20-70", "", span(20, 70), "anks 20–69 (20-70, end excluded)")
}
