package ui

import (
	"testing"

	"fyne.io/fyne/v2/test"
)

func TestShellHasTitleAndMenu(t *testing.T) {
	a := test.NewApp()
	defer a.Quit()
	s := NewShell(a, "test")
	if got := s.Window.Title(); got != Title {
		t.Errorf("title %q", got)
	}
	menu := s.Window.MainMenu()
	if menu == nil || len(menu.Items) != 3 {
		t.Fatalf("menu %v", menu)
	}
	var labels []string
	for _, m := range menu.Items {
		labels = append(labels, m.Label)
	}
	if labels[0] != "File" || labels[2] != "Help" {
		t.Errorf("menus %v", labels)
	}
}
