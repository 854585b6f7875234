package ui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/assets"
	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/compute/workspace"
	"github.com/saescope/saescope/ui/labels"
	"github.com/saescope/saescope/weights/corpus"
	"github.com/saescope/saescope/weights/hub"
	"github.com/saescope/saescope/weights/tokenizer"
	"github.com/saescope/saescope/weights/tokenrows"
)

// Session is what the window holds while a workspace is open: the
// workspace itself (WS: the model and its SAEs, compute/workspace), one
// explorer per SAE, the corpus read for it, and the jobs that use them.
// ("Workspace" always means a model with its SAEs and corpus; the Shell's
// methods that open, analyse and close one are in this file.)
type Session struct {
	WS        *workspace.Workspace
	Jobs      *Jobs
	Explorers []*Explorer

	corpusMu  sync.Mutex
	corpus    *corpus.Corpus
	corpusKey string

	bench *Workbench // the SAE tabs' pins (workbench.go)
}

// analysisRun is the analysis in progress.
type analysisRun struct {
	cancel context.CancelFunc
	view   *View
}

// backend returns the window's compute backend, made on first use (when
// the first model opens) by the constructor NewShell was given, and shared
// by every workspace after it.
func (s *Shell) backend() (compute.Backend, error) {
	s.backendOnce.Do(func() {
		if s.backendMake == nil {
			s.backendErr = errors.New("no compute backend: the window was made without one")
			return
		}
		s.backendVal, s.backendErr = s.backendMake()
	})
	return s.backendVal, s.backendErr
}

// LabelDir is where label books are kept; tests point it elsewhere.
var LabelDir = func() (string, error) { return labels.Dir() }

// StoreDir is the folder of analysis stores ("" is the user cache folder).
var StoreDir = ""

// corpusSpec returns the corpus path and rows of a spec, defaults filled.
func corpusSpec(w WorkspaceSpec) (string, int) {
	path, rows := w.Corpus, w.Rows
	if path == "" {
		path = ShippedCorpus
	}
	if rows <= 0 {
		rows = analysis.DefaultParams().Rows
	}
	return path, rows
}

// loadCorpus reads the spec's corpus (once per session and spec).
func (ss *Session) loadCorpus(ctx context.Context, tok *tokenizer.Tokenizer, w WorkspaceSpec, progress func(done, total int)) (*corpus.Corpus, error) {
	path, rows := corpusSpec(w)
	key := fmt.Sprintf("%s\x00%d", path, rows)
	ss.corpusMu.Lock()
	defer ss.corpusMu.Unlock()
	if ss.corpus != nil && ss.corpusKey == key {
		return ss.corpus, nil
	}
	opt := corpus.Options{SeqLen: 128, Rows: rows}
	var c *corpus.Corpus
	var err error
	if path == ShippedCorpus {
		c, err = corpus.LoadFS(ctx, assets.CorpusFS(), assets.CorpusDir, tok, opt, progress)
	} else if tokenrows.IsTokenRowsFile(path) {
		c, err = tokenRowsCorpus(ctx, path, rows, ss.WS.Model.Config)
	} else {
		c, err = corpus.Load(ctx, path, tok, opt, progress)
	}
	if err != nil {
		return nil, err
	}
	ss.corpus, ss.corpusKey = c, key
	return c, nil
}

// params are the analysis parameters of sae on a spec's corpus: NoBOS
// for an SAE trained without BOS.
func params(w WorkspaceSpec, sae *workspace.SAE) store.Params {
	p := analysis.DefaultParams()
	_, p.Rows = corpusSpec(w)
	p.NoBOS = sae.Weights.NoBOS
	return p
}

// corpusFor returns the rows sae is scanned on: c's, or for an SAE trained
// without BOS (prepend_bos false) the same text cut into rows without it.
// The session keeps one corpus, with BOS, for all its SAEs: the rows
// without BOS are made with it (Corpus.WithoutBOS), so a workspace that
// mixes both kinds reads and tokenizes its corpus once.
func corpusFor(c *corpus.Corpus, sae *workspace.SAE) (*corpus.Corpus, error) {
	if !sae.Weights.NoBOS || c.TokenRows { // exact rows are scanned as given
		return c, nil
	}
	nb, err := c.WithoutBOS()
	if err != nil {
		return nil, fmt.Errorf("rows without BOS for %s (trained with prepend_bos false): %w", sae.Name(), err)
	}
	return nb, nil
}

// noBOSNote is what the window says of an SAE trained without BOS.
const noBOSNote = "Scanned without BOS, as it was trained (prepend_bos false)."

// updateNoBOSNote names the open SAEs trained without BOS in the
// workspace bar.
func (s *Shell) updateNoBOSNote() {
	var names []string
	if s.session != nil {
		for _, e := range s.session.Explorers {
			if e.View.SAE.Weights.NoBOS {
				names = append(names, e.View.SAE.Name())
			}
		}
	}
	s.Bar.SetNoBOS(names)
}

// closeSession detaches the panes, stops the jobs and closes the model.
func (s *Shell) closeSession() {
	ss := s.session
	if ss == nil {
		return
	}
	s.saveState() // shell_state.go
	s.session = nil
	s.running = nil
	s.updateNoBOSNote()
	s.Progress.Hide()
	for _, e := range ss.Explorers {
		e.View.FlushLabels()
		e.View.SetStore(nil, false)
	}
	s.Tabs.Items = nil
	s.Tabs.Refresh()
	s.center.Objects = []fyne.CanvasObject{s.welcomeView()}
	s.center.Refresh()
	s.updateTitle()
	s.syncAnalysisControls()
	go func() {
		ss.Jobs.Close()
		ss.WS.Close()
	}()
}

// OpenModel closes the workspace and opens the GPT-2 checkpoint in dir;
// then (if not nil) runs on the UI thread when it is done.
func (s *Shell) OpenModel(dir string, then func(error)) {
	done := func(err error) {
		if then != nil {
			then(err)
		}
	}
	if dir == "" {
		s.SetStatus("Type or pick a GPT-2 model folder first.")
		done(errors.New("no model folder"))
		return
	}
	s.closeSession()
	s.spec = WorkspaceSpec{Model: dir, Corpus: s.Bar.CorpusPath(), Rows: s.barRows()}
	s.Bar.Model.SetText(dir)
	s.SetStatus("Loading the model in " + dir + "…")
	s.Progress.Show()
	s.Progress.SetValue(0)
	t0 := time.Now()
	// Only the latest request opens: a model asked for while another was
	// loading replaces it (the earlier one is closed when it arrives).
	s.modelGen++
	gen := s.modelGen
	go func() {
		be, err := s.backend()
		var ws *workspace.Workspace
		if err == nil {
			ws, err = workspace.Open(dir, be)
		}
		uiDo(func() {
			if gen != s.modelGen {
				if ws != nil {
					go ws.Close()
				}
				done(errors.New("another model was opened meanwhile"))
				return
			}
			s.Progress.Hide()
			if err != nil {
				s.showError(fmt.Errorf("open model %s: %w", dir, err))
				done(err)
				return
			}
			s.session = &Session{WS: ws, Jobs: NewJobs()}
			cfg := ws.Model.Config
			s.SetStatus(fmt.Sprintf("Model %s: %d layers, d_model %d, context %d (%s, %.1f s). Add an SAE of this model.",
				dir, cfg.NLayer, cfg.DModel, cfg.NPositions, compute.Describe(ws.Backend), time.Since(t0).Seconds()))
			s.center.Objects = []fyne.CanvasObject{container.NewCenter(widget.NewLabel("Model loaded. Add an SAE (a .pt file or a SAELens folder) in the SAE row above."))}
			s.center.Refresh()
			s.remember()
			s.updateTitle()
			done(nil)
		})
	}()
}

// barRows reads the Rows field (the default when it is not a number).
func (s *Shell) barRows() int {
	n, err := parseInt(s.Bar.Rows.Text)
	if err != nil || n <= 0 {
		return analysis.DefaultParams().Rows
	}
	return n
}

// AddSAE loads an SAE of the open model and gives it a tab; its finished
// analysis opens at once: from sp.Store when it was made on the
// workspace's corpus (and matches the model and SAE), else from the cache
// after the corpus is read.
func (s *Shell) AddSAE(sp SAESpec, then func(*Explorer, error)) {
	path, hook := sp.Path, sp.Hook
	done := func(e *Explorer, err error) {
		if then != nil {
			then(e, err)
		}
	}
	ss := s.session
	if ss == nil {
		s.SetStatus("Open a model first: an SAE belongs to a model.")
		done(nil, errors.New("no model open"))
		return
	}
	if path == "" {
		s.SetStatus("Type or pick an SAE file or SAELens folder first.")
		done(nil, errors.New("no SAE path"))
		return
	}
	for i, e := range ss.Explorers {
		if samePath(e.View.SAE.Path, path) && (hook == "" || hook == e.View.SAE.Weights.Hook.String()) && sp.FoldDecNorm == e.View.SAE.Weights.FoldedDecoderNorm {
			s.Tabs.SelectIndex(i)
			s.SetStatus(fmt.Sprintf("The SAE %s is already open (tab %d).", path, i+1))
			done(e, nil)
			return
		}
	}
	spec := s.spec
	s.SetStatus("Loading the SAE " + path + "…")
	ss.Jobs.Go(func(ctx context.Context) {
		sae, err := ss.WS.AddSAEWith(path, workspace.SAEOptions{Hook: hook, FoldDecNorm: sp.FoldDecNorm})
		if err != nil {
			uiDo(func() {
				s.showError(addSAEError(path, err))
				s.syncAnalysisControls()
				done(nil, err)
			})
			return
		}
		// A new analysis replaces the SAE's store while the panes' jobs
		// may still read the old one.
		sae.ReleaseReplacedStore(ss.Jobs.CloseStore)
		var book *labels.Book
		var bookErr error
		if dir, err := LabelDir(); err != nil {
			bookErr = err
		} else {
			book, bookErr = labels.Open(dir, sae.Hash, path)
		}
		st, owned, note := s.findStore(ctx, ss, sae, spec, sp)
		uiDo(func() {
			if s.session != ss {
				if owned && st != nil {
					st.Close()
				}
				done(nil, errors.New("the workspace was closed"))
				return
			}
			v := NewView(sae, ss.WS.Tok, book, ss.Jobs)
			v.SetMessageHandler(s.SetStatus)
			v.RequestAnalyze = func() { s.analyzeViews(s.workspaceViews(), false, nil) }
			s.workbench(ss).Add(v)
			e := NewExplorer(v)
			v.SetStore(st, owned)
			ss.Explorers = append(ss.Explorers, e)
			s.Tabs.Append(container.NewTabItem(sae.Name(), e.Content()))
			s.Tabs.SelectIndex(len(s.Tabs.Items) - 1)
			s.center.Objects = []fyne.CanvasObject{s.Tabs}
			s.center.Refresh()
			s.updateNoBOSNote()
			s.spec.SAEs = append(s.spec.SAEs, withStore(SAESpec{Path: path, Hook: hook, FoldDecNorm: sp.FoldDecNorm}, st))
			s.remember()
			s.updateTitle()
			msg := fmt.Sprintf("SAE %s: %d features at %s.", sae.Name(), sae.Weights.DSae, sae.Weights.Hook)
			if sae.Weights.Uncentred {
				msg += " Trained on uncentred activations (its cfg.json says so): the model runs without centring for it."
			}
			if sae.Weights.NoBOS {
				msg += " " + noBOSNote
			}
			if st != nil {
				msg += " Its analysis is open."
			} else {
				msg += " Not analysed on this corpus yet: press Analyze."
			}
			if note != "" {
				msg += " " + note
			}
			switch {
			case bookErr != nil && book == nil:
				msg += " Labels: " + bookErr.Error() + " (labels are kept for this session only)."
			case bookErr != nil:
				msg += " Labels: " + bookErr.Error() + "."
			}
			s.SetStatus(msg)
			s.syncAnalysisControls()
			done(e, nil)
		})
	})
}

// samePath says whether a and b name the same file or folder.
func samePath(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// findStore finds a finished analysis of sae on the spec's corpus: the
// store file remembered for that corpus (checked against the model and
// SAE), else the cache. owned says the caller must close the store.
func (s *Shell) findStore(ctx context.Context, ss *Session, sae *workspace.SAE, spec WorkspaceSpec, sp SAESpec) (st *store.Store, owned bool, note string) {
	cpath, rows := corpusSpec(spec)
	if sp.Store != "" && sp.StoreCorpus == cpath && sp.StoreRows == rows {
		if st, err := store.Open(sp.Store); err == nil {
			m := st.Meta
			if m.SAE.Hash == sae.Hash && m.Model.Hash == ss.WS.ModelHash && m.Corpus.Path == corpusName(cpath) &&
				m.Params.FoldDecNorm == sae.Weights.FoldedDecoderNorm && m.Params.NoBOS == sae.Weights.NoBOS {
				return st, true, ""
			}
			st.Close()
		}
	}
	c, err := ss.loadCorpus(ctx, ss.WS.Tok, spec, nil)
	if err != nil {
		return nil, false, "The corpus could not be read: " + err.Error()
	}
	if c, err = corpusFor(c, sae); err != nil {
		return nil, false, "The corpus could not be cut for this SAE: " + err.Error()
	}
	ok, err := sae.OpenCached(StoreDir, c, params(spec, sae))
	if err != nil || !ok {
		return nil, false, ""
	}
	return sae.Store(), false, ""
}

// withStore records st (made on the spec's corpus) in sp.
func withStore(sp SAESpec, st *store.Store) SAESpec {
	sp.Store, sp.StoreCorpus, sp.StoreRows = "", "", 0
	if st != nil {
		sp.Store = storePathOf(st)
		sp.StoreCorpus = st.Meta.Corpus.Path
		if sp.StoreCorpus == assets.CorpusDir {
			sp.StoreCorpus = ShippedCorpus
		}
		sp.StoreRows = st.Meta.Params.Rows
	}
	return sp
}

// corpusName is the corpus path a store records.
func corpusName(path string) string {
	if path == ShippedCorpus {
		return assets.CorpusDir
	}
	return path
}

// storePathOf is where an analysis lives in the store folder.
func storePathOf(st *store.Store) string {
	if st == nil {
		return ""
	}
	dir := StoreDir
	if dir == "" {
		var err error
		if dir, err = analysis.CacheDir(); err != nil {
			return ""
		}
	}
	return analysis.StorePath(dir, st.Meta.Key)
}

// remember records the workspace in the recent list.
func (s *Shell) remember() {
	RememberWorkspace(s.App.Preferences(), s.spec)
	s.refreshRecent()
}

// OpenWorkspace opens a model and its SAEs (and analyses those without a
// finished analysis when analyze is set); then runs when all is open.
func (s *Shell) OpenWorkspace(w WorkspaceSpec, analyze bool, then func(error)) {
	done := func(err error) {
		if then != nil {
			then(err)
		}
	}
	s.Bar.SetCorpus(w.Corpus, w.Rows)
	s.OpenModel(w.Model, func(err error) {
		if err != nil {
			done(err)
			return
		}
		s.spec.State = w.State // kept in the recent list until it is restored (shell_state.go)
		s.remember()
		// An SAE that fails to open, or whose analysis fails, does not
		// keep the others out: they open, and the errors are reported at
		// the end. Those without an analysis are analysed together once
		// all are open; a cancelled analysis does not stop the opening.
		var errs []error
		var pending []*View // opened without an analysis, to analyse when all are open
		var next func(i int)
		next = func(i int) {
			if s.session == nil {
				done(errors.Join(append(errs, errors.New("the workspace was closed"))...))
				return
			}
			if i == len(w.SAEs) && len(pending) > 0 {
				// every SAE without an analysis, in one pass
				vs := pending
				pending = nil
				s.analyzeViews(vs, false, func(err error) {
					if err != nil && !errors.Is(err, context.Canceled) {
						errs = append(errs, err)
					}
					next(i)
				})
				return
			}
			if i == len(w.SAEs) {
				if len(errs) == 0 {
					s.SetStatus(fmt.Sprintf("Workspace open: %s, running on %s.", describeSpec(s.spec), compute.Describe(s.session.WS.Backend)))
				} else { // each error was shown as it happened
					s.SetStatus(fmt.Sprintf("Workspace open: %s; %d of its %d SAEs could not be opened or analysed (%v).",
						describeSpec(s.spec), len(errs), len(w.SAEs), errs[0]))
				}
				if e := s.Explorer(); e != nil && e.View.Store() != nil {
					s.ShowWorkspaceBar(false) // room for the panes; a click unfolds it
				}
				s.restoreState(w)
				done(errors.Join(errs...))
				return
			}
			sp := w.SAEs[i]
			s.AddSAE(sp, func(e *Explorer, err error) {
				if err != nil {
					errs = append(errs, err)
					next(i + 1)
					return
				}
				if analyze && e.View.Store() == nil {
					pending = append(pending, e.View)
				}
				next(i + 1)
			})
		}
		next(0)
	})
}

// Analyze scans the corpus with every SAE of the workspace not analysed on
// it yet (all of them with force) in one pass, in the background
// (analyzeViews).
func (s *Shell) Analyze(force bool) {
	e := s.Explorer()
	switch {
	case e == nil && s.session == nil:
		s.SetStatus("Open a model and add an SAE before analysing.")
		return
	case e == nil:
		s.SetStatus("The model is open: add an SAE of it before analysing (the SAE row of the workspace bar, or File › Add SAE file…).")
		return
	}
	s.analyzeViews(s.workspaceViews(), force, nil)
}

// CancelAnalysis stops the analysis in progress; nothing is written.
func (s *Shell) CancelAnalysis() {
	if s.running != nil {
		s.running.cancel()
		s.SetStatus("Cancelling the analysis…")
	}
}

// Analyzing says whether an analysis is in progress.
func (s *Shell) Analyzing() bool { return s.running != nil }

// setAnalyzing tells v's panes that its analysis runs (or ended).
func (s *Shell) setAnalyzing(v *View, on bool) {
	if s.session == nil {
		return
	}
	for _, e := range s.session.Explorers {
		if e.View == v {
			e.View.SetAnalyzing(on)
			e.Ranking.SetAnalyzing(on)
		}
	}
}

// showProgress shows an analysis' progress in the status bar.
func (s *Shell) showProgress(v *View, p analysis.Progress) {
	switch p.Stage {
	case "scan":
		if p.TotalRows > 0 {
			s.Progress.SetValue(float64(p.Rows) / float64(p.TotalRows))
		}
		s.SetStatus(scanProgressText(v.Name(), p))
	default:
		s.SetStatus(fmt.Sprintf("Analysing %s: %s…", v.Name(), p.Stage))
	}
}

// scanLocalSources lists what the Hugging Face cache holds in the
// choosers (run on a goroutine: it reads directories).
func (s *Shell) scanLocalSources() {
	c, err := hub.NewClientFromEnv()
	if err != nil {
		return
	}
	sources := FindLocalSources(c)
	uiDo(func() { s.Bar.SetSources(sources, s.recentModels()) })
}
