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

// Window flags with values the window cannot use are refused at start with
// a message naming the flag, before any window opens.
func TestGUIRefusesBadFlagValues(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--backend", "bogus"}, `--backend "bogus"`},
		{[]string{"--blas", "mkl"}, `--blas "mkl"`},
		{[]string{"--theme", "purple"}, `--theme "purple"`},
		{[]string{"--pane", "context"}, `--pane "context"`},
		{[]string{"--rows", "0"}, `--rows 0`},
		{[]string{"--size", "1280"}, `--size "1280"`},
		{[]string{"--size", "1280x"}, `--size "1280x"`},
		{[]string{"--size", "0x800"}, `--size "0x800"`},
		{[]string{"--size", "1280x800x3"}, `--size "1280x800x3"`},
		{[]string{"--tab", "-1"}, `--tab -1`},
		{[]string{"--feature", "-5"}, `--feature -5`},
		{[]string{"--pos", "last"}, `--pos "last"`},
	} {
		var stderr strings.Builder
		if code := gui(c.args, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q", c.args, code, stderr.String())
		}
	}
	for _, args := range [][]string{
		{"--size", "1280x800"}, {"--size", "1280×800"}, {"--pos", "−4"}, {"--feature", "-1"}, {"--theme", "Dark"}, {"--pane", "statistics"}, {"--blas", "gonum"}, {"--backend", "cpu"},
	} {
		fs, o := guiFlags(&strings.Builder{})
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if _, err := o.check(); err != nil {
			t.Errorf("%v refused: %v", args, err)
		}
	}
	fs, o := guiFlags(&strings.Builder{})
	if err := fs.Parse([]string{"--size", "1024x768"}); err != nil {
		t.Fatal(err)
	}
	if size, err := o.check(); err != nil || size.Width != 1024 || size.Height != 768 {
		t.Errorf("size %v, %v", size, err)
	}
}

// Without a display the window says so in a line instead of the GL
// driver's panic.
func TestGUIWithoutDisplay(t *testing.T) {
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	var stderr strings.Builder
	if code := gui([]string{"--theme", "dark"}, &stderr); code != 2 || !strings.Contains(stderr.String(), "no display") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	env := map[string]string{"WAYLAND_DISPLAY": "wayland-0"}
	if err := checkDisplay("linux", func(k string) string { return env[k] }); err != nil {
		t.Errorf("Wayland session: %v", err)
	}
	if err := checkDisplay("darwin", func(string) string { return "" }); err != nil {
		t.Errorf("macOS: %v", err)
	}
}
