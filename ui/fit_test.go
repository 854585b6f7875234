package ui

import (
	"testing"

	"fyne.io/fyne/v2/test"
)

// View › Theme ticks the theme in use, and follows a change.
func TestThemeMenuTicksTheCurrentTheme(t *testing.T) {
	a := test.NewTempApp(t)
	ApplyTheme(a, ThemeDark)
	s := NewShell(a, "test", testBackend)
	ticked := func() []string {
		var out []string
		for _, it := range s.themeMenu.Items {
			if it.Checked {
				out = append(out, it.Label)
			}
		}
		return out
	}
	if got := ticked(); len(got) != 1 || got[0] != "Dark" {
		t.Errorf("dark theme applied: ticked %v", got)
	}
	s.SetTheme(ThemeLight)
	if got := ticked(); len(got) != 1 || got[0] != "Light" {
		t.Errorf("after choosing light: ticked %v", got)
	}
}
