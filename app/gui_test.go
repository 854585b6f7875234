package main

import (
	"strings"
	"testing"
)

func TestGUIFlagsOpenTheWindow(t *testing.T) {
	for _, c := range []struct {
		args []string
		gui  bool
	}{
		{[]string{"--model", "m", "--sae", "a.pt", "--sae", "b", "--pane", "contexts", "--feature", "17"}, true},
		{[]string{"-model=m"}, true},
		{[]string{"--theme", "dark"}, true},
		{[]string{"analyze", "--model", "m"}, false},
		{[]string{"-h"}, false},
		{[]string{"--help"}, false},
		{[]string{"-test.v"}, false},
		{nil, false},
	} {
		gui, rest := splitGUIArgs(c.args)
		if (gui != nil) != c.gui || (c.gui && len(rest) != 0) || (!c.gui && len(rest) != len(c.args)) {
			t.Errorf("%v: gui %v, rest %v", c.args, gui, rest)
		}
	}
	fs, o := guiFlags(&strings.Builder{})
	if err := fs.Parse([]string{"--model", "m", "--sae", "a.pt", "--sae", "b", "--pane", "intervals", "--feature", "17", "--pos", "-4", "--rows", "200"}); err != nil {
		t.Fatal(err)
	}
	if o.model != "m" || len(o.saes) != 2 || o.pane != "intervals" || o.feature != 17 || o.pos != "-4" || o.rows != 200 || o.corpus != "shipped" {
		t.Errorf("parsed %+v", o)
	}
	if err := fs.Parse([]string{"--nope"}); err == nil {
		t.Error("unknown flag accepted")
	}
	fs, o = guiFlags(&strings.Builder{})
	if err := fs.Parse([]string{"--demo", "--backend", "cpu", "--blas", "gonum"}); err != nil || o.backend != "cpu" || o.blas != "gonum" {
		t.Errorf("backend flags: %v %+v", err, o)
	}
}

// A command after the window's flags is refused, not ignored while the
// window opens.
func TestGUIRefusesACommandAfterItsFlags(t *testing.T) {
	var stderr strings.Builder
	if code := gui([]string{"--backend", "cpu", "analyze", "--model", "m"}, &stderr); code != 2 || !strings.Contains(stderr.String(), `unexpected argument "analyze"`) {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
