package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"
)

// shownMore returns the More entries that the groups show, by group
// title.
func shownMore(fr *FirstRun) map[string][]*EntryRow {
	out := map[string][]*EntryRow{}
	for _, it := range fr.MoreGroups.Items {
		for _, o := range it.Detail.(*widget.Card).Content.(*fyne.Container).Objects {
			for _, r := range fr.More {
				if r.Content() == o {
					out[it.Title] = append(out[it.Title], r)
				}
			}
		}
	}
	return out
}

// Get started › More groups the catalogue by release, folded, with a
// filter field; its Download buttons line up with those above (issue 20,
// item 10: ~200 entries in one flat list, the buttons ~6 px to the right).
func TestFirstRunMoreGroupedAndAligned(t *testing.T) {
	srv, _ := fakeHub(t)
	hubEnv(t, srv.URL(), false)
	s, fr := newFirstRunShell(t)
	s.Window.Resize(fyne.NewSize(1280, 800))

	groups := shownMore(fr)
	total := 0
	for title, rows := range groups {
		total += len(rows)
		for _, r := range rows {
			if !strings.HasPrefix(title, byNameTitle(r)+" (") {
				t.Errorf("%s under %q", r.Entry.Name, title)
			}
		}
		if !strings.HasSuffix(title, " ("+itoa(len(rows))+")") {
			t.Errorf("group %q holds %d entries", title, len(rows))
		}
	}
	if total != len(fr.More) || len(groups) < 3 || len(groups) > len(fr.More)/4 {
		t.Errorf("%d entries in %d groups, %d in More", total, len(groups), len(fr.More))
	}
	for _, it := range fr.MoreGroups.Items {
		if it.Open {
			t.Errorf("group %q open before any filter", it.Title)
		}
	}

	fr.MoreFilter.SetText("MLP_out")
	shown := 0
	for _, rows := range shownMore(fr) {
		for _, r := range rows {
			shown++
			e := r.Entry
			if !strings.Contains(strings.ToLower(e.Name+e.Title+e.Hook+e.Release), "mlp_out") {
				t.Errorf("filter mlp_out shows %s", e.Name)
			}
		}
	}
	if shown == 0 || shown == len(fr.More) {
		t.Errorf("filter mlp_out shows %d of %d", shown, len(fr.More))
	}
	for _, it := range fr.MoreGroups.Items {
		if !it.Open {
			t.Errorf("group %q folded under a filter", it.Title)
		}
	}
	fr.MoreFilter.SetText("")
	if n := len(shownMore(fr)); n != len(groups) {
		t.Errorf("%d groups after clearing the filter, %d before", n, len(groups))
	}

	// the buttons line up
	fr.MoreBox.Open(0)
	row := fr.Row("gpt2-small-res-jb/blocks.9.hook_resid_pre")
	for i, it := range fr.MoreGroups.Items {
		if strings.HasPrefix(it.Title, "gpt2-small-res-jb (") {
			fr.MoreGroups.Open(i)
		}
	}
	fr.Content().Refresh()
	d := fyne.CurrentApp().Driver()
	above, below := d.AbsolutePositionForObject(fr.Rows[0].Download), d.AbsolutePositionForObject(row.Download)
	if above.X != below.X || fr.Rows[0].Download.Size().Width != row.Download.Size().Width {
		t.Errorf("Download at x %.0f (%.0f wide) in More, %.0f (%.0f wide) above", below.X, row.Download.Size().Width,
			above.X, fr.Rows[0].Download.Size().Width)
	}
}
