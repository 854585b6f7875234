package main

import (
	"bytes"
	"strings"
	"testing"
)

// saescope --help lists the window's flags with the commands (issue 20,
// item 10).
func TestHelpListsTheWindowFlags(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "help"} {
		var out, errOut bytes.Buffer
		if code := run([]string{arg}, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s", arg, code, errOut.String())
		}
		for _, want := range []string{"saescope [window flags]", "analyze", "-size", "window size in pixels", "-pane", "-demo", "-theme"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: no %q in\n%s", arg, want, out.String())
			}
		}
	}
}
