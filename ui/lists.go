package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// listRow is one row of a pickList: a text and a value, and the feature
// it stands for (-1 for a token row, which is not picked).
type listRow struct {
	Text  string
	Value string
	ID    int
}

// pickList is a titled list of rows (features or tokens) whose rows can
// be clicked: OnPick gets the row's index.
type pickList struct {
	Title    *widget.Label
	Subtitle *widget.Label
	List     *widget.List
	OnPick   func(i int)

	rows    []listRow
	content fyne.CanvasObject
}

// newPickList returns an empty list; head, when not nil, replaces the
// subtitle (a selector, say) on its own line below the title.
func newPickList(title, subtitle string, head fyne.CanvasObject) *pickList {
	l := &pickList{Title: widget.NewLabel(title), Subtitle: widget.NewLabel(subtitle)}
	l.Title.TextStyle.Bold = true
	l.Title.Truncation = fyne.TextTruncateEllipsis
	l.Subtitle.Truncation = fyne.TextTruncateEllipsis
	l.Subtitle.TextStyle.Italic = true
	l.List = widget.NewList(func() int { return len(l.rows) },
		func() fyne.CanvasObject {
			text, value := widget.NewLabel("token"), widget.NewLabel("0.000")
			text.Truncation = fyne.TextTruncateEllipsis
			text.TextStyle, value.TextStyle = chipStyle, chipStyle
			return container.NewBorder(nil, nil, nil, value, text)
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			c := o.(*fyne.Container)
			text, value := c.Objects[0].(*widget.Label), c.Objects[1].(*widget.Label)
			if i < 0 || i >= len(l.rows) {
				text.SetText("")
				value.SetText("")
				return
			}
			text.SetText(l.rows[i].Text)
			value.SetText(l.rows[i].Value)
		})
	l.List.OnSelected = func(i widget.ListItemID) {
		l.List.UnselectAll()
		if i >= 0 && i < len(l.rows) && l.rows[i].ID >= 0 && l.OnPick != nil {
			l.OnPick(i)
		}
	}
	// the title and subtitle on one line, a head (a selector) below the
	// title: the rows get the height
	// (the title whole, the subtitle shortened)
	top := container.NewBorder(nil, nil, l.Title, nil, l.Subtitle)
	if head == nil {
		l.Title.Truncation = fyne.TextTruncateOff
	} else {
		top = container.NewVBox(l.Title, container.New(narrow{60}, head))
	}
	l.content = container.NewBorder(top, nil, nil, nil, l.List)
	return l
}

// SetRows shows rows; note (when not empty) replaces the subtitle.
func (l *pickList) SetRows(rows []listRow) {
	l.rows = rows
	l.List.Refresh()
	l.List.ScrollToTop()
}

// Rows returns the rows shown.
func (l *pickList) Rows() []listRow { return l.rows }

// Pick clicks row i (tests).
func (l *pickList) Pick(i int) { l.List.Select(i) }

func (l *pickList) Content() fyne.CanvasObject { return l.content }

// narrow lets its objects be as narrow as w (a selector whose options are
// long would otherwise widen every column of a grid).
type narrow struct{ w float32 }

func (l narrow) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var h float32
	for _, o := range objs {
		h = max(h, o.MinSize().Height)
	}
	return fyne.NewSize(l.w, h)
}

func (l narrow) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(size)
	}
}

// weighted lays its objects side by side, each as wide as its share of
// the weights, full height.
type weighted []float32

func (l weighted) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var w, h float32
	for _, o := range objs {
		m := o.MinSize()
		w += m.Width
		h = max(h, m.Height)
	}
	return fyne.NewSize(w+theme.Padding()*float32(max(0, len(objs)-1)), h)
}

func (l weighted) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	var total float32
	for i := range objs {
		total += l.weight(i)
	}
	free := size.Width - theme.Padding()*float32(max(0, len(objs)-1))
	x := float32(0)
	for i, o := range objs {
		w := free * l.weight(i) / total
		o.Move(fyne.NewPos(x, 0))
		o.Resize(fyne.NewSize(w, size.Height))
		x += w + theme.Padding()
	}
}

func (l weighted) weight(i int) float32 {
	if i < len(l) {
		return l[i]
	}
	return 1
}
