// Package localeenv makes the C and POSIX locales readable by Fyne.
//
// Fyne reads the user's locale when its lang package is initialised,
// before main runs: from LC_ALL, LC_MESSAGES or LANG, through
// github.com/jeandeaual/go-locale, which passes "C" and "POSIX" as "no
// locale" but turns C.UTF-8 (the default of many containers, CI runners
// and minimal Debian and Ubuntu installs), C.utf8 or POSIX.UTF-8 into the
// language tag "C", which Fyne cannot parse: it logs "Error parsing user
// locale C" at every start, of the window and of every headless command.
//
// Importing this package sets LANGUAGE=en for those locales, which that
// library reads first and gettext ignores under a C locale; nothing else
// changes (LC_CTYPE, which GLFW uses for text input, stays as it is).
//
// It is a module of its own so that its import path sorts before
// fyne.io/...: Go initialises the packages whose imports are ready in
// the order of their import paths, so this init runs before Fyne's.
package localeenv

import (
	"os"
	"strings"
)

func init() {
	if v, ok := Language(os.Getenv); ok {
		os.Setenv("LANGUAGE", v)
	}
}

// Language returns the LANGUAGE to set ("en") when the locale that sets
// the messages' language (LC_ALL, LC_MESSAGES or LANG, the first set) is
// C or POSIX with a codeset or modifier (C.UTF-8, POSIX@x), which Fyne
// cannot read, and LANGUAGE does not name a language already; ok is false
// when nothing needs setting.
func Language(getenv func(string) string) (value string, ok bool) {
	var loc string
	for _, name := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if loc = getenv(name); loc != "" {
			break
		}
	}
	if loc == "C" || loc == "POSIX" || !isC(loc) {
		return "", false // read as no locale, or a real one
	}
	if l := getenv("LANGUAGE"); l != "" && !isC(strings.Split(l, ":")[0]) {
		return "", false
	}
	return "en", true
}

// isC says whether loc is the C or POSIX locale, with or without a
// codeset (.UTF-8) or modifier (@euro).
func isC(loc string) bool {
	if i := strings.IndexAny(loc, ".@"); i >= 0 {
		loc = loc[:i]
	}
	return loc == "C" || loc == "POSIX"
}
