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

// overrideTheme is the window's theme with a few sizes or colours changed
// for one part of it (container.NewThemeOverride). It asks the running
// app for its theme on every call, so a theme switch in the View menu
// reaches the overridden part too.
type overrideTheme struct {
	// innerPadding, when not 0, replaces theme.SizeNameInnerPadding.
	innerPadding float32
	// placeholderForDisabled draws what the theme draws in its disabled
	// colour (a Label of LowImportance) in its placeholder colour: the
	// light theme's disabled grey is barely visible on white.
	placeholderForDisabled bool
}

func (t overrideTheme) base() fyne.Theme {
	if a := fyne.CurrentApp(); a != nil {
		if th := a.Settings().Theme(); th != nil {
			return th
		}
	}
	return theme.DefaultTheme()
}

func (t overrideTheme) Color(n fyne.ThemeColorName, v fyne.ThemeVariant) color.Color {
	if t.placeholderForDisabled && n == theme.ColorNameDisabled {
		n = theme.ColorNamePlaceHolder
	}
	return t.base().Color(n, v)
}

func (t overrideTheme) Font(s fyne.TextStyle) fyne.Resource { return t.base().Font(s) }

func (t overrideTheme) Icon(n fyne.ThemeIconName) fyne.Resource { return t.base().Icon(n) }

func (t overrideTheme) Size(n fyne.ThemeSizeName) float32 {
	if t.innerPadding != 0 && n == theme.SizeNameInnerPadding {
		return t.innerPadding
	}
	return t.base().Size(n)
}
