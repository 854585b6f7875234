package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Under the C and POSIX locales, with or without a codeset, neither the
// window nor a headless command logs "Error parsing user locale C"
// (issue 20, item 13): the test binary, which links Fyne as the app
// does, is started again under each and must print nothing about the
// locale while its packages are initialised.
func TestNoLocaleErrorUnderCLocales(t *testing.T) {
	if os.Getenv("SAESCOPE_LOCALE_CHILD") != "" {
		return // the child: its packages were initialised, which is the test
	}
	var env []string
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE":
		default:
			env = append(env, kv)
		}
	}
	for _, loc := range []string{"C", "C.UTF-8", "C.utf8", "POSIX", "en_US.UTF-8"} {
		for _, name := range []string{"LANG", "LC_ALL"} {
			cmd := exec.Command(os.Args[0], "-test.run=^TestNoLocaleErrorUnderCLocales$", "-test.count=1")
			cmd.Env = append(env[:len(env):len(env)], name+"="+loc, "SAESCOPE_LOCALE_CHILD=1")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s=%s: %v\n%s", name, loc, err, out)
			}
			if strings.Contains(strings.ToLower(string(out)), "locale") {
				t.Errorf("%s=%s: the start logs about the locale:\n%s", name, loc, out)
			}
		}
	}
}
