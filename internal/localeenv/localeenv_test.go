package localeenv

import "testing"

func TestLanguage(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string // "" for nothing to set
	}{
		{map[string]string{"LANG": "C.UTF-8"}, "en"},
		{map[string]string{"LANG": "C.utf8"}, "en"},
		{map[string]string{"LANG": "POSIX.UTF-8"}, "en"},
		{map[string]string{"LC_ALL": "C.UTF-8", "LANG": "de_DE.UTF-8"}, "en"},
		{map[string]string{"LC_MESSAGES": "C.UTF-8"}, "en"},
		{map[string]string{"LANG": "C.UTF-8", "LANGUAGE": "C"}, "en"},
		{map[string]string{"LANG": "C"}, ""},     // read as no locale already
		{map[string]string{"LANG": "POSIX"}, ""}, // the same
		{map[string]string{}, ""},
		{map[string]string{"LANG": "en_US.UTF-8"}, ""},
		{map[string]string{"LANG": "Ca_ES.UTF-8"}, ""},
		{map[string]string{"LANG": "C.UTF-8", "LANGUAGE": "fr:en"}, ""},
		{map[string]string{"LC_ALL": "de_DE.UTF-8", "LANG": "C.UTF-8"}, ""},
	} {
		got, ok := Language(func(k string) string { return c.env[k] })
		if got != c.want || ok != (c.want != "") {
			t.Errorf("%v: %q %v, want %q", c.env, got, ok, c.want)
		}
	}
}
