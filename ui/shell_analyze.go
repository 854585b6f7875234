package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/compute/workspace"
	"github.com/saescope/saescope/internal/numfmt"
	"github.com/saescope/saescope/weights/corpus"
)

// workspaceViews returns the views of the open workspace's SAEs, in the
// order of their tabs.
func (s *Shell) workspaceViews() []*View {
	if s.session == nil {
		return nil
	}
	vs := make([]*View, 0, len(s.session.Explorers))
	for _, e := range s.session.Explorers {
		vs = append(vs, e.View)
	}
	return vs
}

// analysedOn says whether v's store is an analysis of the corpus and rows
// of spec, with the BOS convention of v's SAE.
func analysedOn(v *View, spec WorkspaceSpec) bool {
	cpath, rows := corpusSpec(spec)
	st := v.store
	return st != nil && st.Meta.Params.Rows == rows && st.Meta.Corpus.Path == corpusName(cpath) && st.Meta.Params.NoBOS == v.SAE.Weights.NoBOS
}

// analyzeView analyses v's SAE alone (analyzeViews).
func (s *Shell) analyzeView(v *View, force bool, then func(error)) {
	s.analyzeViews([]*View{v}, force, then)
}

// analyzeViews scans the corpus chosen in the bar with the SAEs of vs
// that are not analysed on it yet (all of them with force) in one pass
// (workspace.AnalyzeMany: the model runs once to the deepest hook, each
// SAE gets its own store; SAEs trained without BOS read their own rows,
// in a second pass), in the background, with the progress in the status
// bar. Each store is written only when the whole scan is done: a
// cancelled analysis writes none, and a failed one leaves every SAE its
// old store.
func (s *Shell) analyzeViews(vs []*View, force bool, then func(error)) {
	done := func(err error) {
		if then != nil {
			then(err)
		}
	}
	ss := s.session
	if ss == nil {
		done(errors.New("no workspace"))
		return
	}
	if s.running != nil {
		s.SetStatus("An analysis is already running: wait for it or cancel it.")
		done(errors.New("an analysis is already running"))
		return
	}
	// the corpus chosen in the bar
	if c, r := s.Bar.CorpusPath(), s.barRows(); c != s.spec.Corpus || r != s.spec.Rows {
		s.spec.Corpus, s.spec.Rows = c, r
	}
	spec := s.spec
	var todo []*View
	for _, v := range vs {
		if force || !analysedOn(v, spec) {
			todo = append(todo, v)
		}
	}
	if len(todo) == 0 {
		if len(vs) == 1 {
			s.SetStatus(vs[0].Name() + " is already analysed on this corpus (File › Analyze again to scan anew).")
		} else {
			s.SetStatus("Every SAE of the workspace is already analysed on this corpus (File › Analyze again to scan anew).")
		}
		done(nil)
		return
	}
	// Each SAE replaces (and closes) its own store when the new one is
	// ready: detach the panes from it first. A store a view opened itself
	// stays open until the new one is there, in case this run fails.
	type previous struct {
		st    *store.Store
		owned bool
	}
	olds := make([]previous, len(todo))
	viewOf := map[*workspace.SAE]*View{}
	for i, v := range todo {
		olds[i] = previous{v.store, v.ownsStore}
		viewOf[v.SAE] = v
		v.store, v.ownsStore = nil, false
		for _, fn := range v.onStore {
			fn(nil)
		}
	}
	ctx, cancel := context.WithCancel(ss.Jobs.Context())
	run := &analysisRun{cancel: cancel, view: todo[0]}
	for _, v := range todo {
		s.setAnalyzing(v, true)
	}
	s.running = run
	s.syncAnalysisControls()
	s.Progress.SetValue(0)
	s.Progress.Show()
	s.SetStatus("Reading the corpus…")
	t0 := time.Now()
	ss.Jobs.Go(func(context.Context) {
		defer cancel()
		errs := make([]error, len(todo)) // per view
		c, err := ss.loadCorpus(ctx, ss.WS.Tok, spec, func(d, total int) {
			uiDo(func() {
				if s.running == run && total > 0 {
					s.Progress.SetValue(float64(d) / float64(total))
					s.SetStatus(fmt.Sprintf("Reading the corpus: %d of %d documents", d, total))
				}
			})
		})
		if err != nil {
			for i := range errs {
				errs[i] = err
			}
		} else {
			s.scanGroups(ctx, run, c, spec, todo, viewOf, force, errs)
		}
		uiDo(func() {
			if s.running == run {
				s.running = nil
				s.syncAnalysisControls()
				s.Progress.Hide()
			}
			for _, v := range todo {
				s.setAnalyzing(v, false)
			}
			if s.session != ss {
				done(errors.New("the workspace was closed"))
				return
			}
			var analysed []*View
			var failed []error
			cancelled := false
			for i, v := range todo {
				if errs[i] != nil {
					v.SetStore(olds[i].st, olds[i].owned) // still open: the SAE keeps its store on failure
					if errors.Is(errs[i], context.Canceled) {
						cancelled = true
					} else {
						failed = append(failed, fmt.Errorf("analysis of %s: %w", v.Name(), errs[i]))
					}
					continue
				}
				st := v.SAE.Store()
				v.SetStore(st, false)
				if old := olds[i]; old.st != nil && old.owned && old.st != st {
					ss.Jobs.CloseStore(old.st)
				}
				for j := range s.spec.SAEs {
					if s.spec.SAEs[j].Path == v.SAE.Path {
						s.spec.SAEs[j] = withStore(s.spec.SAEs[j], st)
					}
				}
				analysed = append(analysed, v)
			}
			if len(analysed) > 0 {
				s.remember()
			}
			switch {
			case cancelled && len(analysed) == 0:
				s.SetStatus("Analysis cancelled: nothing was written.")
				done(context.Canceled)
			case cancelled:
				s.SetStatus(fmt.Sprintf("Analysis cancelled: %s analysed before it, nothing written for the others.", viewNames(analysed)))
				done(context.Canceled)
			case len(failed) > 0:
				s.showError(errors.Join(failed...))
				done(errors.Join(failed...))
			default:
				s.SetStatus(analysedMessage(analysed, time.Since(t0)))
				done(nil)
			}
		})
	})
}

// scanGroups runs the analysis of todo on corpus c: the SAEs read on
// rows with BOS in one pass, those trained without BOS in another, on
// the same text cut without it. errs[i] is set for each view whose
// analysis failed; a cancel ends the remaining passes.
func (s *Shell) scanGroups(ctx context.Context, run *analysisRun, c *corpus.Corpus, spec WorkspaceSpec, todo []*View, viewOf map[*workspace.SAE]*View, force bool, errs []error) {
	for _, noBOS := range []bool{false, true} {
		var idx []int
		var saes []*workspace.SAE
		for i, v := range todo {
			if v.SAE.Weights.NoBOS == noBOS {
				idx, saes = append(idx, i), append(saes, v.SAE)
			}
		}
		if len(saes) == 0 {
			continue
		}
		fail := func(err error) {
			for _, i := range idx {
				errs[i] = err
			}
		}
		if err := ctx.Err(); err != nil {
			fail(err)
			continue
		}
		gc, err := corpusFor(c, saes[0])
		if err != nil {
			fail(err)
			continue
		}
		if note := gc.Note; note != "" {
			uiDo(func() {
				if s.running == run {
					s.SetStatus(note)
				}
			})
		}
		name := saes[0].Name()
		if len(saes) > 1 {
			name = fmt.Sprintf("%d SAEs in one pass", len(saes))
		}
		err = saes[0].W.AnalyzeMany(ctx, StoreDir, gc, saes, func(sa *workspace.SAE) store.Params { return params(spec, sa) }, force,
			func(sa *workspace.SAE, p analysis.Progress) {
				if p.Stage == "scan" && sa != saes[0] {
					return // every SAE advances with each batch: one report
				}
				uiDo(func() {
					if s.running != run {
						return
					}
					if p.Stage == "scan" {
						s.showProgressNamed(name, p)
					} else {
						s.showProgress(viewOf[sa], p)
					}
				})
			})
		if err != nil {
			fail(err)
		}
	}
}

// showProgressNamed shows a scan's progress under name (an SAE's, or the
// number of SAEs scanned together).
func (s *Shell) showProgressNamed(name string, p analysis.Progress) {
	if p.TotalRows > 0 {
		s.Progress.SetValue(float64(p.Rows) / float64(p.TotalRows))
	}
	s.SetStatus(scanProgressText(name, p))
}

// viewNames lists the views' names.
func viewNames(vs []*View) string {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.Name()
	}
	return strings.Join(names, ", ")
}

// analysedMessage is the status line after an analysis of vs that took
// el: the summary of the one SAE, or of each of several.
func analysedMessage(vs []*View, el time.Duration) string {
	if len(vs) == 1 {
		v := vs[0]
		st := v.Store()
		sum := st.Meta.Summary
		msg := fmt.Sprintf("%s analysed in %.1f s: %s tokens, L0 %.1f, %s, reconstruction score %s.",
			v.Name(), el.Seconds(), numfmt.Thousands(sum.Tokens), sum.L0, nOf(sum.Dead, "dead feature"), shortReconScore(sum))
		if st.Meta.Params.NoBOS {
			msg += " " + noBOSNote
		}
		return msg
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		sum := v.Store().Meta.Summary
		parts[i] = fmt.Sprintf("%s L0 %.1f, %s", v.Name(), sum.L0, nOf(sum.Dead, "dead feature"))
	}
	return fmt.Sprintf("%d SAEs analysed in %.1f s, in one pass over %s tokens: %s.",
		len(vs), el.Seconds(), numfmt.Thousands(vs[0].Store().Meta.Summary.Tokens), strings.Join(parts, "; "))
}
