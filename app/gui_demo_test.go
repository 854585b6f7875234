package main

import (
	"strings"
	"testing"
)

func TestDemoFlagOpensTheWindow(t *testing.T) {
	gui, rest := splitGUIArgs([]string{"--demo", "--pane", "contexts"})
	if gui == nil || len(rest) != 0 {
		t.Fatalf("--demo is not a window flag: %v %v", gui, rest)
	}
	fs, o := guiFlags(&strings.Builder{})
	if err := fs.Parse(gui); err != nil {
		t.Fatal(err)
	}
	if !o.demo || o.pane != "contexts" {
		t.Errorf("parsed %+v", o)
	}
}
