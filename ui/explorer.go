package ui

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
)

// Pane names, as the --pane flag and the View menu take them.
const (
	PaneRanking     = "ranking"
	PaneContexts    = "contexts"
	PaneIntervals   = "intervals"
	PaneNeuroscope  = "neuroscope"
	PaneElicitation = "elicitation"
)

// Panes lists the pane names.
var Panes = []string{PaneRanking, PaneContexts, PaneIntervals, PaneNeuroscope, PaneElicitation}

// Explorer is one SAE's panes: the ranking on the left; on the right the
// selected feature's header above tabs for its contexts, the neuroscope
// and elicitation. They share the View's selected feature.
type Explorer struct {
	View       *View
	Ranking    *RankingPane
	Header     *FeatureHeader
	Contexts   *ContextsPane
	Neuroscope *NeuroscopePane
	Elicit     *ElicitPane
	Tabs       *container.AppTabs
	Split      *container.Split
	content    fyne.CanvasObject
}

// NewExplorer builds the panes of v.
func NewExplorer(v *View) *Explorer {
	e := &Explorer{View: v}
	e.Ranking = NewRankingPane(v)
	e.Header = NewFeatureHeader(v)
	e.Contexts = NewContextsPane(v)
	e.Neuroscope = NewNeuroscopePane(v)
	e.Elicit = NewElicitPane(v)
	e.Tabs = container.NewAppTabs(
		container.NewTabItem("Contexts", e.Contexts.Content()),
		container.NewTabItem("Neuroscope", e.Neuroscope.Content()),
		container.NewTabItem("Elicitation", e.Elicit.Content()),
	)
	right := container.NewBorder(container.NewPadded(e.Header.Content()), nil, nil, nil, e.Tabs)
	e.Split = container.NewHSplit(e.Ranking.Content(), right)
	e.Split.Offset = 0.45
	e.content = e.Split
	return e
}

// Content is the explorer's widget tree.
func (e *Explorer) Content() fyne.CanvasObject { return e.content }

// ShowPane brings a pane to the front.
func (e *Explorer) ShowPane(name string) error {
	switch strings.ToLower(name) {
	case PaneRanking, "":
		// always visible
	case PaneContexts:
		e.Tabs.SelectIndex(0)
		e.Contexts.Tabs.SelectIndex(0)
	case PaneIntervals:
		e.Tabs.SelectIndex(0)
		e.Contexts.Tabs.SelectIndex(1)
	case PaneNeuroscope:
		e.Tabs.SelectIndex(1)
	case PaneElicitation:
		e.Tabs.SelectIndex(2)
	default:
		return fmt.Errorf("unknown pane %q (%s)", name, strings.Join(Panes, ", "))
	}
	return nil
}

// Settle waits for the live panes' runs (tests, measurements).
func (e *Explorer) Settle() {
	e.Neuroscope.Settle()
	e.Elicit.Settle()
}
