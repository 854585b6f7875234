package main

import (
	"strings"
	"testing"

	"github.com/saescope/saescope/ui"
)

// The window's flags name the statistics, detail and compare panes, the
// features to pin and the statistics plot.
func TestGUIFlagsForThePlotPanes(t *testing.T) {
	fs, o := guiFlags(&strings.Builder{})
	if err := fs.Parse([]string{"--model", "m", "--sae", "a.pt", "--pane", "compare", "--pin", "3,17", "--plot", "frequency"}); err != nil {
		t.Fatal(err)
	}
	if o.pane != "compare" || o.pin != "3,17" || o.plot != "frequency" {
		t.Errorf("parsed %+v", o)
	}
	for _, p := range []string{ui.PaneStatistics, ui.PaneDetail, ui.PaneCompare} {
		if !strings.Contains(fs.Lookup("pane").Usage, p) {
			t.Errorf("--pane help lacks %s", p)
		}
	}
	if gui, _ := splitGUIArgs([]string{"--pin", "3"}); gui == nil {
		t.Error("--pin does not open the window")
	}
}
