package ui

import (
	"strings"

	"fyne.io/fyne/v2/widget"
)

// paneMsg drives a pane's message line: the error of a field typed into
// (a scale, a feature id, top-k) stays shown until that field is fixed,
// whatever later results do, so a bad value is never silently ignored;
// the latest result's error (the text, a position) follows it.
type paneMsg struct {
	label  *widget.Label
	order  []string // fields with an error, in the order they went wrong
	fields map[string]string
	result string
}

func newPaneMsg(label *widget.Label) *paneMsg {
	return &paneMsg{label: label, fields: map[string]string{}}
}

// field sets (or, with "", clears) the error of the field name.
func (m *paneMsg) field(name, err string) {
	if err == "" {
		delete(m.fields, name)
		for i, n := range m.order {
			if n == name {
				m.order = append(m.order[:i], m.order[i+1:]...)
				break
			}
		}
	} else {
		if _, ok := m.fields[name]; !ok {
			m.order = append(m.order, name)
		}
		m.fields[name] = err
	}
	m.show()
}

// setResult sets (or clears) the error of the latest result.
func (m *paneMsg) setResult(err string) {
	m.result = err
	m.show()
}

func (m *paneMsg) show() {
	var parts []string
	for _, n := range m.order {
		parts = append(parts, m.fields[n])
	}
	if m.result != "" {
		parts = append(parts, m.result)
	}
	showMessage(m.label, strings.Join(parts, " · "))
}
