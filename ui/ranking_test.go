package ui

import (
	"strconv"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/ui/labels"
)

func TestRankingShowsTheStore(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewRankingPane(v)
	show(t, p.Content(), 600, 700)
	want := v.Store().Rank(store.ByMean, true)
	rows := p.Rows()
	if len(rows) != len(want.Live) || len(rows) == 0 {
		t.Fatalf("%d rows, store has %d live features", len(rows), len(want.Live))
	}
	for i := range rows {
		if rows[i] != want.Live[i] || p.Ranks()[i] != i {
			t.Fatalf("row %d: %+v, want %+v", i, rows[i], want.Live[i])
		}
	}
	// the cells show the store's numbers
	l := widget.NewLabel("")
	p.updateCell(widget.TableCellID{Row: 0, Col: colID}, l)
	if l.Text != itoa(want.Live[0].ID) {
		t.Errorf("first feature cell %q, want %d", l.Text, want.Live[0].ID)
	}
	p.updateCell(widget.TableCellID{Row: 0, Col: colMean}, l)
	if l.Text != fnum(want.Live[0].Mean) {
		t.Errorf("mean cell %q", l.Text)
	}
	if !strings.Contains(p.Info.Text, "live") {
		t.Errorf("info %q", p.Info.Text)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestRankingSortsByEveryColumn(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewRankingPane(v)
	show(t, p.Content(), 600, 700)
	for _, c := range []int{colCV, colFreq, colMax, colID, colMean} {
		p.headerTapped(c)
		m, desc := p.SortedBy()
		if m != colMetric[c] {
			t.Fatalf("column %d sorts by %s", c, m)
		}
		want := v.Store().Rank(m, desc)
		if p.Rows()[0].ID != want.Live[0].ID || p.Rows()[len(want.Live)-1].ID != want.Live[len(want.Live)-1].ID {
			t.Errorf("sorted by %s: first %d last %d", m, p.Rows()[0].ID, p.Rows()[len(p.Rows())-1].ID)
		}
		// tapping again reverses
		p.headerTapped(c)
		if _, d2 := p.SortedBy(); d2 == desc {
			t.Errorf("second tap on %s did not reverse", m)
		}
	}
	// label sort puts labelled features first
	v.SetEntry(200, labels.Entry{Label: "alpha"})
	v.SetEntry(3, labels.Entry{Label: "beta"})
	v.FlushLabels()
	p.headerTapped(colLabel)
	if r := p.Rows(); r[0].ID != 200 || r[1].ID != 3 {
		t.Errorf("by label: %d, %d", r[0].ID, r[1].ID)
	}
}

func TestRankingRangeAndFind(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewRankingPane(v)
	show(t, p.Content(), 600, 700)
	live := p.Ranking().Live
	p.RangeEntry.SetText("ranks 20–30")
	p.ApplyRange()
	if len(p.Rows()) != 10 || p.Ranks()[0] != 20 || p.Rows()[0] != live[20] {
		t.Fatalf("range 20-30: %d rows from rank %v", len(p.Rows()), p.Ranks())
	}
	// bad input gives a message, not a panic, and keeps the rows
	for _, bad := range []string{"abc", "50-10", "100000-100050"} {
		p.RangeEntry.SetText(bad)
		p.ApplyRange()
		if !p.Msg.Visible() || p.Msg.Text == "" {
			t.Errorf("range %q: no message", bad)
		}
	}
	if len(p.Rows()) != 10 {
		t.Error("a bad range changed the rows")
	}
	p.ShowAll()
	if len(p.Rows()) != len(live) {
		t.Error("show all")
	}
	// find by id selects
	p.FindEntry.SetText("#17")
	p.Find()
	if v.Feature() != 17 {
		t.Errorf("find 17 selected %d", v.Feature())
	}
	p.FindEntry.SetText("99999")
	p.Find()
	if !strings.Contains(p.Msg.Text, "out of range") || v.Feature() != 17 {
		t.Errorf("out of range id: %q, selected %d", p.Msg.Text, v.Feature())
	}
	p.FindEntry.SetText("-3")
	p.Find()
	if !strings.Contains(p.Msg.Text, "out of range") {
		t.Errorf("negative id: %q", p.Msg.Text)
	}
	// find by label filters
	v.SetEntry(42, labels.Entry{Label: "Country names"})
	v.SetEntry(7, labels.Entry{Notes: "fires on countries"})
	p.FindEntry.SetText("countr")
	p.Find()
	if len(p.Rows()) != 2 {
		t.Fatalf("label search: %d rows", len(p.Rows()))
	}
	p.FindEntry.SetText("no such label")
	p.Find()
	if !p.Msg.Visible() {
		t.Error("no message for a label that matches nothing")
	}
}

func TestRankingSelectionPropagates(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewRankingPane(v)
	show(t, p.Content(), 600, 700)
	var got []int
	v.OnFeature(func(f int) { got = append(got, f) })
	row := 5
	p.Table.Select(widget.TableCellID{Row: row, Col: colMean})
	want := p.Rows()[row].ID
	if v.Feature() != want || len(got) != 1 || got[0] != want {
		t.Fatalf("table selection: view %d, listeners %v, want %d", v.Feature(), got, want)
	}
	// selecting elsewhere moves the table's selection without a loop
	other := p.Rows()[9].ID
	if err := v.Select(other); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || p.rowOf(other) != 9 {
		t.Errorf("listeners %v", got)
	}
	if err := v.Select(1 << 20); err == nil {
		t.Error("feature out of range accepted")
	}
}

func TestRankingDeadFeaturesApart(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	st := synthStore(20)
	v.SetStore(st, false)
	p := NewRankingPane(v)
	show(t, p.Content(), 600, 700)
	r := p.Ranking()
	if len(r.Live) != 20 || len(r.Dead) != 236 || len(p.Rows()) != 20 {
		t.Fatalf("live %d dead %d rows %d", len(r.Live), len(r.Dead), len(p.Rows()))
	}
	if p.Tabs.Items[1].Text != "Dead features (236)" {
		t.Errorf("dead tab %q", p.Tabs.Items[1].Text)
	}
	if err := v.Select(100); err != nil {
		t.Fatal(err)
	}
	if p.Tabs.SelectedIndex() != 1 {
		t.Error("selecting a dead feature does not show the dead list")
	}
	v.Select(3)
	if p.Tabs.SelectedIndex() != 0 {
		t.Error("selecting a live feature does not show the table")
	}
}

func TestRankingWithoutStore(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	v.SetStore(nil, false)
	p := NewRankingPane(v)
	show(t, p.Content(), 600, 700)
	if p.Tabs.Visible() || !strings.Contains(p.empty.Text, "Analyze") {
		t.Errorf("no store: %q", p.empty.Text)
	}
	asked := false
	v.RequestAnalyze = func() { asked = true }
	test.Tap(p.AnalyzeButton)
	if !asked {
		t.Error("the Analyze button does not ask for an analysis")
	}
	p.RangeEntry.SetText("1-5")
	p.ApplyRange()
	if !p.Msg.Visible() {
		t.Error("no message for a range without a store")
	}
	p.FindEntry.SetText("12")
	p.Find()
	if v.Feature() != 12 {
		t.Error("an id selects even before the analysis")
	}
}
