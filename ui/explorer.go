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
	PaneDetail      = "detail"
	PaneStatistics  = "statistics"
	PaneCompare     = "compare"
)

// Panes lists the pane names.
var Panes = []string{PaneRanking, PaneContexts, PaneIntervals, PaneNeuroscope, PaneElicitation, PaneDetail, PaneStatistics, PaneCompare}

// Explorer is one SAE's panes: the ranking on the left; on the right the
// selected feature's header above tabs for its contexts, the neuroscope,
// elicitation, its detail (density, logits, nearest features), the SAE's
// statistics and the comparison of the pinned features. They share the
// View's selected feature; the comparison shows the window's pins.
type Explorer struct {
	View       *View
	Ranking    *RankingPane
	Header     *FeatureHeader
	Contexts   *ContextsPane
	Neuroscope *NeuroscopePane
	Elicit     *ElicitPane
	Detail     *DetailPane
	Statistics *StatisticsPane
	Compare    *ComparePane
	Tabs       *container.AppTabs
	Split      *container.Split
	content    fyne.CanvasObject

	header                       fyne.CanvasObject
	detailTab, statsTab, compTab *container.TabItem
}

// NewExplorer builds the panes of v.
func NewExplorer(v *View) *Explorer {
	e := &Explorer{View: v}
	e.Ranking = NewRankingPane(v)
	e.Header = NewFeatureHeader(v)
	e.Contexts = NewContextsPane(v)
	e.Neuroscope = NewNeuroscopePane(v)
	e.Elicit = NewElicitPane(v)
	// built off screen: they compute when their tab is shown
	e.Detail = newDetailPane(v, false)
	e.Statistics = newStatisticsPane(v, false)
	e.Compare = newComparePane(v, false)
	e.detailTab = container.NewTabItem("Detail", e.Detail.Content())
	e.statsTab = container.NewTabItem("Statistics", e.Statistics.Content())
	e.compTab = container.NewTabItem("Compare", e.Compare.Content())
	e.Tabs = container.NewAppTabs(
		container.NewTabItem("Contexts", e.Contexts.Content()),
		container.NewTabItem("Neuroscope", e.Neuroscope.Content()),
		container.NewTabItem("Elicitation", e.Elicit.Content()),
		e.detailTab, e.statsTab, e.compTab,
	)
	e.Tabs.OnSelected = func(*container.TabItem) { e.tabShown() }
	e.header = container.NewPadded(e.Header.Content())
	right := container.NewBorder(e.header, nil, nil, nil, e.Tabs)
	e.Split = container.NewHSplit(e.Ranking.Content(), right)
	e.Split.Offset = 0.45
	e.content = e.Split
	e.tabShown()
	return e
}

// tabShown tells the panes that compute in the background whether they
// are on screen, and hides the feature header above the statistics and
// the comparison (views of more than one feature, which need the room;
// the comparison has its own Pin button).
func (e *Explorer) tabShown() {
	sel := e.Tabs.Selected()
	e.Detail.SetActive(sel == e.detailTab)
	e.Statistics.SetActive(sel == e.statsTab)
	e.Compare.SetActive(sel == e.compTab)
	if sel == e.statsTab || sel == e.compTab {
		e.header.Hide()
	} else {
		e.header.Show()
	}
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
	case PaneDetail:
		e.Tabs.Select(e.detailTab)
	case PaneStatistics:
		e.Tabs.Select(e.statsTab)
	case PaneCompare:
		e.Tabs.Select(e.compTab)
	default:
		return fmt.Errorf("unknown pane %q (%s)", name, strings.Join(Panes, ", "))
	}
	return nil
}

// Settle waits for the live panes' runs and the background plots and
// lists (tests, measurements).
func (e *Explorer) Settle() {
	for {
		e.Neuroscope.Settle()
		e.Elicit.Settle()
		e.Detail.Settle()
		e.Statistics.Settle()
		e.Compare.Settle()
		if !settled() {
			return
		}
	}
}

// PinFeatures pins the features listed in s ("3,17" or "3 17") for the
// compare pane.
func (e *Explorer) PinFeatures(s string) error {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == ';' })
	if len(fields) == 0 {
		return fmt.Errorf("no feature to pin in %q: give ids such as 3,17", s)
	}
	for _, f := range fields {
		id, err := parseInt(f)
		if err != nil {
			return fmt.Errorf("pin: %w", err)
		}
		if err := e.View.Bench().Pin(e.View, id); err != nil {
			return err
		}
	}
	return nil
}
