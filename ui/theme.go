package ui

import (
	"fmt"
	"image/color"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// Theme choices, as the --theme flag and the View menu take them.
const (
	ThemeSystem = "system"
	ThemeLight  = "light"
	ThemeDark   = "dark"
)

// prefTheme is the preference key of the theme chosen in the View menu.
const prefTheme = "theme"

// variantTheme is Fyne's default theme forced to one variant.
type variantTheme struct {
	fyne.Theme
	variant fyne.ThemeVariant
}

func (t variantTheme) Color(n fyne.ThemeColorName, _ fyne.ThemeVariant) color.Color {
	return t.Theme.Color(n, t.variant)
}

// ThemeFor returns the theme of a choice: the system's for "system" or
// anything unknown.
func ThemeFor(name string) fyne.Theme {
	switch strings.ToLower(name) {
	case ThemeLight:
		return variantTheme{theme.DefaultTheme(), theme.VariantLight}
	case ThemeDark:
		return variantTheme{theme.DefaultTheme(), theme.VariantDark}
	}
	return theme.DefaultTheme()
}

// CheckTheme says whether name is a theme choice (any case; "" is the
// saved one).
func CheckTheme(name string) error {
	switch strings.ToLower(name) {
	case "", ThemeSystem, ThemeLight, ThemeDark:
		return nil
	}
	return fmt.Errorf("unknown theme %q: use system, light or dark", name)
}

// themeChoice returns the choice a's theme was made from: light, dark,
// or system for any other theme.
func themeChoice(a fyne.App) string {
	if t, ok := a.Settings().Theme().(variantTheme); ok {
		switch t.variant {
		case theme.VariantLight:
			return ThemeLight
		case theme.VariantDark:
			return ThemeDark
		}
	}
	return ThemeSystem
}

// ApplyTheme switches a's theme to the choice name.
func ApplyTheme(a fyne.App, name string) {
	a.Settings().SetTheme(ThemeFor(name))
}
