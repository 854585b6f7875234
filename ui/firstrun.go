package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/internal/numfmt"
	"github.com/saescope/saescope/weights/catalog"
	"github.com/saescope/saescope/weights/hub"
)

// newHubClient builds the hub client of the first-run screen from the
// environment (HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_HUB_OFFLINE,
// HF_TOKEN), as transformers and huggingface_hub do, so that what they
// downloaded is found.
var newHubClient = hub.NewClientFromEnv

// netState is what the first-run screen knows of the network.
type netState int

const (
	netChecking netState = iota // the hub is being asked
	netOnline                   // the hub answered: downloads possible
	netOffline                  // no hub: only what is on disk
)

// FirstRun is the "Get models" screen: shown in the window's centre while
// no workspace is open, and from File › Get models…. It lists what a
// first analysis needs (GPT-2 small, the notebook's SAE, the corpus) and,
// under "more", every catalogue entry, each with its size, what the disk
// holds of it and a Download button; it opens GPT-2 small with an SAE when
// they are on disk, the demo (no download) or local files. Nothing touches
// the network until the screen asks the hub whether it can be reached
// (never with HF_HUB_OFFLINE set) and the user presses Download.
type FirstRun struct {
	s         *Shell
	client    *hub.Client
	clientErr error

	Notice  *widget.Label // online or offline, and why
	Retry   *widget.Button
	Rows    []*EntryRow // the first-run entries
	More    []*EntryRow // every other entry, under MoreBox
	MoreBox *widget.Accordion
	// MoreFilter narrows More to the entries whose name, title, hook or
	// release contains its text; MoreGroups holds them by release.
	MoreFilter *widget.Entry
	MoreGroups *widget.Accordion
	SAEChoice  *widget.Select
	OpenReal   *widget.Button
	OpenHint   *widget.Label
	OpenDemo   *widget.Button
	OpenLocal  *widget.Button
	GetAll     *widget.Button

	noticeIcon *widget.Icon
	net        netState
	netErr     error
	checkGen   int
	scanSeq    int
	scanning   bool
	sizing     bool // asking the hub for exact sizes
	ctx        context.Context
	cancel     context.CancelFunc
	content    fyne.CanvasObject
	view       fyne.CanvasObject // the welcome view: this screen and the recent workspaces, scrolled
	dlg        dialog.Dialog     // when shown over an open workspace
	barFolded  bool              // the workspace bar was folded for a new user
}

// firstRunScreen returns the shell's first-run screen, made on first use.
func (s *Shell) firstRunScreen() *FirstRun {
	if s.firstRun == nil {
		s.firstRun = newFirstRun(s)
	}
	return s.firstRun
}

// FirstRunScreen returns the "Get models" screen.
func (s *Shell) FirstRunScreen() *FirstRun { return s.firstRunScreen() }

// welcomeView is what the centre shows while no workspace is open: the
// first-run screen and the recent workspaces, in a scroll.
func (s *Shell) welcomeView() fyne.CanvasObject {
	fr := s.firstRunScreen()
	if fr.view == nil {
		fr.view = container.NewVScroll(container.New(maxWidthLayout{980}, container.NewPadded(s.welcome)))
	}
	return fr.view
}

// ShowGetModels shows the first-run screen: in the centre when no
// workspace is open, else over it in a dialog. It looks at the disk again
// (Python tools may have downloaded something meanwhile).
func (s *Shell) ShowGetModels() {
	fr := s.firstRunScreen()
	fr.Rescan()
	if fr.net == netOffline {
		fr.Recheck()
	}
	if s.session == nil {
		s.center.Objects = []fyne.CanvasObject{s.welcomeView()}
		s.center.Refresh()
		if sc, ok := fr.view.(*container.Scroll); ok {
			sc.ScrollToTop()
		}
		return
	}
	if fr.dlg == nil {
		fr.dlg = dialog.NewCustom("Get models", "Close", container.NewVScroll(fr.content), s.Window)
	}
	fr.dlg.Resize(fyne.NewSize(min(1000, s.Window.Canvas().Size().Width-40), min(700, s.Window.Canvas().Size().Height-40)))
	fr.dlg.Show()
}

func newFirstRun(s *Shell) *FirstRun {
	fr := &FirstRun{s: s}
	fr.ctx, fr.cancel = context.WithCancel(context.Background())
	fr.client, fr.clientErr = newHubClient()

	fr.Notice = widget.NewLabel("")
	fr.Notice.Wrapping = fyne.TextWrapWord
	fr.noticeIcon = widget.NewIcon(theme.InfoIcon())
	fr.Retry = widget.NewButtonWithIcon("Check again", theme.ViewRefreshIcon(), func() {
		fr.Rescan()
		fr.Recheck()
	})
	fr.Retry.Hide()

	first := map[string]bool{}
	for _, e := range catalog.FirstRun() {
		fr.Rows = append(fr.Rows, newEntryRow(fr, e))
		first[e.Name] = true
	}
	for _, e := range catalog.All() {
		if !first[e.Name] {
			fr.More = append(fr.More, newEntryRow(fr, e))
		}
	}

	fr.SAEChoice = widget.NewSelect(nil, func(string) { fr.changed() })
	fr.OpenReal = widget.NewButtonWithIcon("Open GPT-2 small with this SAE", theme.MediaPlayIcon(), fr.openReal)
	fr.OpenReal.Importance = widget.HighImportance
	fr.OpenReal.Disable()
	fr.OpenHint = widget.NewLabel("")
	fr.OpenHint.Wrapping = fyne.TextWrapWord
	fr.OpenDemo = widget.NewButtonWithIcon("Open the demo (no download)", theme.ComputerIcon(), func() {
		fr.hideDialog()
		s.OpenDemo(nil)
	})
	fr.OpenLocal = widget.NewButtonWithIcon("Open local files…", theme.FolderOpenIcon(), fr.openLocal)
	fr.GetAll = widget.NewButtonWithIcon("Download everything missing", theme.DownloadIcon(), fr.getAll)
	fr.GetAll.Hide()

	fr.content = fr.layout()
	fr.changed()
	fr.Rescan()
	fr.Recheck()
	return fr
}

func (fr *FirstRun) layout() fyne.CanvasObject {
	intro := widget.NewLabel("SAE Scope needs GPT-2 small, an SAE of it and a corpus. What transformers or huggingface_hub " +
		"downloaded before is found in the Hugging Face cache and used as it is; once on disk, everything works offline.")
	intro.Wrapping = fyne.TextWrapWord
	heading := widget.NewRichTextFromMarkdown("## Get started")
	notice := container.NewBorder(nil, nil, container.NewVBox(fr.noticeIcon), container.NewVBox(fr.Retry), fr.Notice)

	rows := container.NewVBox()
	for i, r := range fr.Rows {
		if i > 0 {
			rows.Add(widget.NewSeparator())
		}
		rows.Add(r.Content())
	}
	needs := widget.NewCard("", "What a first analysis needs", rows)

	open := container.NewVBox(
		container.NewBorder(nil, nil, container.NewHBox(fr.OpenReal, widget.NewLabel("SAE")), nil, fr.SAEChoice),
		fr.OpenHint,
	)
	demoHint := widget.NewLabel("The demo is a tiny 2-layer GPT-2 that SAE Scope trained on the corpus shipped with the app, and two SAEs trained on it, " +
		"scanned on that corpus: it tours every pane offline and its features pick out punctuation, word pieces and common words, " +
		"but it is not GPT-2 small: its features are not GPT-2 small's. " +
		"Open local files: a GPT-2 folder (config.json and weights), then SAE files, in the workspace bar above.")
	demoHint.Wrapping = fyne.TextWrapWord
	start := widget.NewCard("", "Start", container.NewVBox(
		open,
		widget.NewSeparator(),
		container.NewHBox(fr.OpenDemo, fr.OpenLocal, fr.GetAll),
		demoHint,
	))

	fr.MoreBox = widget.NewAccordion(widget.NewAccordionItem(
		fmt.Sprintf("More models, SAEs and corpora (%d)", len(fr.More)), fr.moreGroups()))
	return container.NewVBox(heading, intro, notice, start, needs, fr.MoreBox)
}

// moreGroups lays the other catalogue entries out in a filter field and
// one folded group per SAELens release (models and corpora in a group of
// their own), each in a card as the entries above are, so that their
// Download buttons line up with those of "What a first analysis needs".
// Typing in the filter shows only the entries whose name, title or hook
// contains the text, their groups unfolded.
func (fr *FirstRun) moreGroups() fyne.CanvasObject {
	type group struct {
		item *widget.AccordionItem
		rows []*EntryRow
		box  *fyne.Container
	}
	var groups []*group
	byName := map[string]*group{}
	for _, r := range fr.More {
		name := byNameTitle(r)
		g := byName[name]
		if g == nil {
			g = &group{box: container.NewVBox()}
			g.item = widget.NewAccordionItem(name, widget.NewCard("", "", g.box))
			byName[name] = g
			groups = append(groups, g)
		}
		g.rows = append(g.rows, r)
	}
	fr.MoreGroups = widget.NewAccordion()
	fr.MoreGroups.MultiOpen = true
	fr.MoreFilter = widget.NewEntry()
	fr.MoreFilter.SetPlaceHolder("Filter: a release, hook or layer (e.g. res-jb, mlp_out, blocks.8)")
	fr.MoreFilter.OnChanged = func(text string) {
		text = strings.ToLower(strings.TrimSpace(text))
		fr.MoreGroups.Items = nil
		for _, g := range groups {
			g.box.RemoveAll()
			for _, r := range g.rows {
				e := r.Entry
				if text != "" && !strings.Contains(strings.ToLower(e.Name+" "+e.Title+" "+e.Hook+" "+e.Release), text) {
					continue
				}
				if len(g.box.Objects) > 0 {
					g.box.Add(widget.NewSeparator())
				}
				g.box.Add(r.Content())
			}
			if n := (len(g.box.Objects) + 1) / 2; n > 0 {
				g.item.Title = fmt.Sprintf("%s (%d)", byNameTitle(g.rows[0]), n)
				g.item.Open = text != ""
				fr.MoreGroups.Items = append(fr.MoreGroups.Items, g.item)
			}
		}
		fr.MoreGroups.Refresh()
	}
	fr.MoreFilter.OnChanged("")
	return container.NewBorder(fr.MoreFilter, nil, nil, nil, fr.MoreGroups)
}

// byNameTitle is the name of the More group of r's entry: its release,
// or "Models and corpora".
func byNameTitle(r *EntryRow) string {
	if r.Entry.Kind != catalog.KindSAE || r.Entry.Release == "" {
		return "Models and corpora"
	}
	return r.Entry.Release
}

// Content is the screen's widget tree (without a scroll).
func (fr *FirstRun) Content() fyne.CanvasObject { return fr.content }

// Online says whether downloads are possible.
func (fr *FirstRun) Online() bool { return fr.net == netOnline }

// Client is the hub client the screen uses (nil when the cache folder
// cannot be found).
func (fr *FirstRun) Client() *hub.Client { return fr.client }

// Row returns the row of a catalogue entry, nil when none.
func (fr *FirstRun) Row(name string) *EntryRow {
	for _, r := range fr.allRows() {
		if r.Entry.Name == name {
			return r
		}
	}
	return nil
}

func (fr *FirstRun) allRows() []*EntryRow {
	return append(append([]*EntryRow(nil), fr.Rows...), fr.More...)
}

// Busy says whether a download or a look at the disk or network is in
// progress.
func (fr *FirstRun) Busy() bool {
	if fr.net == netChecking || fr.scanning || fr.sizing {
		return true
	}
	for _, r := range fr.allRows() {
		if r.Downloading() {
			return true
		}
	}
	return false
}

// stop cancels the downloads (the window is closing); what arrived is
// kept for the next start.
func (fr *FirstRun) stop() { fr.cancel() }

// Rescan looks at the disk again for every entry, on a goroutine.
func (fr *FirstRun) Rescan() {
	c := fr.client
	if c == nil {
		for _, r := range fr.allRows() {
			r.setStatus(catalog.Status{Name: r.Entry.Name, State: catalog.Missing})
		}
		fr.changed()
		return
	}
	fr.scanSeq++
	fr.scanning = true
	gen := fr.scanSeq
	rows := fr.allRows()
	entries := make([]*catalog.Entry, len(rows))
	for i, r := range rows {
		entries[i] = r.Entry
	}
	go func() {
		sts := make([]catalog.Status, len(entries))
		for i, e := range entries {
			sts[i] = e.Status(c)
		}
		uiDo(func() {
			if gen != fr.scanSeq {
				return
			}
			fr.scanning = false
			for i, r := range rows {
				if !r.Downloading() {
					r.setStatus(sts[i])
				}
			}
			fr.changed()
		})
	}()
}

// Recheck asks the hub whether it can be reached (no request at all with
// HF_HUB_OFFLINE set), then for the exact sizes of the first-run entries.
func (fr *FirstRun) Recheck() {
	fr.checkGen++
	fr.sizing = false
	gen := fr.checkGen
	c := fr.client
	if c == nil {
		fr.setNet(netOffline, fr.clientErr)
		return
	}
	if c.Offline {
		fr.setNet(netOffline, hub.ErrOffline)
		return
	}
	fr.setNet(netChecking, nil)
	var entries []*catalog.Entry
	for _, r := range fr.Rows {
		entries = append(entries, r.Entry)
	}
	ctx := fr.ctx
	go func() {
		err := c.Reachable(ctx)
		uiDo(func() {
			if gen != fr.checkGen {
				return
			}
			if err != nil {
				fr.setNet(netOffline, err)
			} else {
				fr.sizing = true
				fr.setNet(netOnline, nil)
			}
		})
		if err != nil {
			return
		}
		infos, _ := catalog.RemoteInfos(ctx, c, entries)
		uiDo(func() {
			if gen != fr.checkGen {
				return
			}
			fr.sizing = false
			for _, r := range fr.Rows {
				if in, ok := infos[r.Entry.Name]; ok && len(in.Missing) == 0 {
					r.setRemote(in.Size)
				}
			}
			fr.changed()
		})
	}()
}

// setNet records what is known of the network and says it.
func (fr *FirstRun) setNet(st netState, err error) {
	fr.net, fr.netErr = st, err
	fr.Retry.Hide()
	switch st {
	case netChecking:
		fr.noticeIcon.SetResource(theme.SearchIcon())
		fr.Notice.SetText("Checking whether the Hugging Face hub can be reached (" + fr.client.Endpoint + ")… " +
			"Everything already on disk can be used meanwhile.")
	case netOnline:
		fr.noticeIcon.SetResource(theme.ConfirmIcon())
		fr.Notice.SetText("Online. Downloads go to the Hugging Face cache (" + fr.client.CacheDir + "), where transformers " +
			"and huggingface_hub find them too; an interrupted download resumes where it stopped.")
	default:
		fr.noticeIcon.SetResource(theme.WarningIcon())
		fr.Notice.SetText(offlineText(fr.client, err))
		fr.Retry.Show()
	}
	for _, r := range fr.allRows() {
		r.refresh()
	}
	fr.changed()
}

// offlineText says plainly that downloads are unavailable, and why.
func offlineText(c *hub.Client, err error) string {
	const keep = " Everything already on disk works as usual, local files open with Open local files…, and the demo needs no download."
	switch {
	case c == nil:
		return "Downloads are unavailable: the Hugging Face cache folder cannot be found (" + errText(err) + ")." + keep
	case c.Offline:
		return "Offline: downloads are turned off because HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set, so nothing " +
			"is fetched from the hub." + keep + " Unset it and press Check again to download."
	}
	return "Offline: the Hugging Face hub (" + c.Endpoint + ") cannot be reached, so nothing can be downloaded now (" +
		errText(err) + ")." + keep
}

func errText(err error) string {
	if err == nil {
		return "unknown reason"
	}
	var he *hub.Error
	if errors.As(err, &he) && he.Err != nil {
		return he.Err.Error()
	}
	return err.Error()
}

// cannotFetch is what a row without a download says when none is
// possible ("" while the network is being checked).
func (fr *FirstRun) cannotFetch() string {
	if fr.net == netOffline {
		return "cannot be downloaded while offline"
	}
	return ""
}

// changed updates what depends on every row: the SAE choice, the Open
// button and its hint, and the Download-everything button.
func (fr *FirstRun) changed() {
	model := fr.Row("gpt2")
	def := ""
	for _, r := range fr.Rows {
		if r.Entry.Kind == catalog.KindSAE {
			def = r.Entry.Name
			break
		}
	}
	var saes []string
	if def != "" {
		saes = append(saes, def)
	}
	for _, r := range fr.allRows() {
		if r.Entry.Kind == catalog.KindSAE && r.Ready() && !slices.Contains(saes, r.Entry.Name) {
			saes = append(saes, r.Entry.Name)
		}
	}
	if !slices.Equal(fr.SAEChoice.Options, saes) {
		fr.SAEChoice.Options = saes
		fr.SAEChoice.Refresh()
	}
	if fr.SAEChoice.Selected == "" || !slices.Contains(saes, fr.SAEChoice.Selected) {
		fr.SAEChoice.Selected = def
		fr.SAEChoice.Refresh()
	}
	sae := fr.Row(fr.SAEChoice.Selected)

	var missing []string
	if model == nil || !model.Ready() {
		missing = append(missing, "GPT-2 small")
	}
	if sae == nil || !sae.Ready() {
		missing = append(missing, "the SAE "+fr.SAEChoice.Selected)
	}
	if len(missing) == 0 {
		fr.OpenReal.Enable()
		corpus := "the corpus shipped with the app (OpenWebText is not on disk)"
		if c := fr.Row("openwebtext-10k"); c != nil && c.Ready() {
			corpus = "openwebtext-10k"
		}
		fr.OpenHint.SetText(fmt.Sprintf("GPT-2 small and %s, on %s, %s rows of 128 tokens. The first analysis takes a few minutes "+
			"on a CPU; later openings are instant.", fr.SAEChoice.Selected, corpus, numfmt.Thousands(analysis.DefaultParams().Rows)))
	} else {
		fr.OpenReal.Disable()
		how := "download it below"
		if len(missing) > 1 {
			how = "download them below"
		}
		if fr.net == netOffline {
			how = "they cannot be downloaded while offline"
			if len(missing) == 1 {
				how = "it cannot be downloaded while offline"
			}
		}
		fr.OpenHint.SetText("Needs " + strings.Join(missing, " and ") + " on disk: " + how + ". The corpus is optional: " +
			"without OpenWebText, the corpus shipped with the app is used.")
	}

	var todo int64
	n := 0
	for _, r := range fr.Rows {
		if r.known && !r.Ready() && !r.Downloading() {
			n++
			todo += r.size()
		}
	}
	if n > 0 && fr.Online() {
		text := "Download everything missing"
		if todo > 0 {
			text += " (" + catalog.FormatBytes(todo) + ")"
		}
		fr.GetAll.SetText(text)
		fr.GetAll.Show()
	} else {
		fr.GetAll.Hide()
	}
}

// RealSpec is the workspace the Open button opens: GPT-2 small from the
// cache, the chosen SAE, openwebtext-10k when on disk (else the shipped
// corpus), the default number of rows. ok is false while something it
// needs is missing.
func (fr *FirstRun) RealSpec() (WorkspaceSpec, bool) {
	model, sae := fr.Row("gpt2"), fr.Row(fr.SAEChoice.Selected)
	if model == nil || sae == nil || !model.Ready() || !sae.Ready() {
		return WorkspaceSpec{}, false
	}
	spec := WorkspaceSpec{Model: model.Status.Path, Corpus: ShippedCorpus, Rows: analysis.DefaultParams().Rows,
		SAEs: []SAESpec{{Path: sae.Status.Path, Hook: sae.Entry.Hook}}}
	if c := fr.Row("openwebtext-10k"); c != nil && c.Ready() {
		spec.Corpus = c.Status.Path
	}
	return spec, true
}

func (fr *FirstRun) openReal() {
	spec, ok := fr.RealSpec()
	if !ok {
		return
	}
	fr.hideDialog()
	fr.s.OpenWorkspace(spec, true, nil)
}

// foldBarForNewUser folds the workspace bar at start for a user who has
// opened no workspace yet, so that the first-run screen fits the window;
// Open local files… or opening a model unfolds it.
func (fr *FirstRun) foldBarForNewUser() {
	if len(LoadRecent(fr.s.App.Preferences())) == 0 {
		fr.s.ShowWorkspaceBar(false)
		fr.barFolded = true
		fr.s.SetStatus("No workspace open: get GPT-2 small and an SAE, open the demo, or open local files.")
	}
}

// workspaceShown runs whenever the window's title is updated: it unfolds
// the workspace bar that foldBarForNewUser folded once a model is open
// without SAEs (the bar is where they are added), and measures the cold
// start.
func (s *Shell) workspaceShown() {
	if fr := s.firstRun; fr != nil && fr.barFolded && s.session != nil {
		fr.barFolded = false
		if len(s.session.Explorers) == 0 {
			s.ShowWorkspaceBar(true)
		}
	}
	s.noteFirstPane()
}

func (fr *FirstRun) openLocal() {
	fr.hideDialog()
	s := fr.s
	fr.barFolded = false
	s.ShowWorkspaceBar(true)
	s.Bar.browseFolder(func(p string) {
		s.Bar.Model.SetText(p)
		s.OpenModel(p, nil)
	})
}

// getAll downloads every first-run entry not on disk.
func (fr *FirstRun) getAll() {
	for _, r := range fr.Rows {
		if r.known && !r.Ready() && !r.Downloading() {
			r.Start()
		}
	}
}

func (fr *FirstRun) hideDialog() {
	if fr.dlg != nil {
		fr.dlg.Hide()
	}
}

// sourcesChanged lists what the cache holds in the workspace bar's
// choosers again (after a download).
func (fr *FirstRun) sourcesChanged() {
	c, s := fr.client, fr.s
	if c == nil {
		return
	}
	go func() {
		src := FindLocalSources(c)
		uiDo(func() { s.Bar.SetSources(src, s.recentModels()) })
	}()
}

// minWidthLayout makes its objects at least w wide (for a column of
// buttons that keeps its width when they change).
type minWidthLayout struct{ w float32 }

func (l minWidthLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var s fyne.Size
	for _, o := range objs {
		if o.Visible() {
			s = s.Max(o.MinSize())
		}
	}
	return fyne.NewSize(max(s.Width, l.w), s.Height)
}

func (l minWidthLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.Position{})
		o.Resize(size)
	}
}

// maxWidthLayout gives its one object the full height and at most w of
// the width (more when its minimum is wider), centred.
type maxWidthLayout struct{ w float32 }

func (l maxWidthLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	if len(objs) == 0 {
		return fyne.Size{}
	}
	return objs[0].MinSize()
}

func (l maxWidthLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		w := min(size.Width, max(l.w, o.MinSize().Width))
		o.Move(fyne.NewPos((size.Width-w)/2, 0))
		o.Resize(fyne.NewSize(w, size.Height))
	}
}
