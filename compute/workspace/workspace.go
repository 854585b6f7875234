// Package workspace ties together what one window works on: a GPT-2
// checkpoint on a backend, the tokenizer, and one or more SAEs of that
// model, each with its analysis store once scanned. It answers the live
// queries of the panes (a text's feature activations for the neuroscope
// and elicitation) and runs or reopens analyses.
package workspace

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/features"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/corpus"
	"github.com/saescope/saescope/weights/gpt2"
	"github.com/saescope/saescope/weights/sae"
	"github.com/saescope/saescope/weights/tokenizer"
)

// MaxTextRunes bounds the text of live queries; longer text is cut to the
// model's context anyway.
const MaxTextRunes = 20000

// Workspace is a loaded model and its SAEs.
type Workspace struct {
	Backend   compute.Backend
	Tok       *tokenizer.Tokenizer
	ModelDir  string
	ModelHash string
	ck        *gpt2.Checkpoint
	Model     *model.Model

	mu   sync.Mutex
	saes []*SAE
}

// Open loads the checkpoint in modelDir onto be.
func Open(modelDir string, be compute.Backend) (*Workspace, error) {
	tok, err := tokenizer.New()
	if err != nil {
		return nil, err
	}
	ck, err := gpt2.Load(modelDir)
	if err != nil {
		return nil, err
	}
	m, err := model.New(be, ck)
	if err != nil {
		ck.Close()
		return nil, err
	}
	hash, err := weights.Fingerprint(modelDir)
	if err != nil {
		m.Close()
		ck.Close()
		return nil, err
	}
	return &Workspace{Backend: be, Tok: tok, ModelDir: modelDir, ModelHash: hash, ck: ck, Model: m}, nil
}

// Close releases the SAEs, their stores and the checkpoint.
func (w *Workspace) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	for _, s := range w.saes {
		errs = append(errs, s.close())
	}
	w.saes = nil
	if w.Model != nil {
		w.Model.Close()
	}
	if w.ck != nil {
		errs = append(errs, w.ck.Close())
		w.ck = nil
	}
	return errors.Join(errs...)
}

// SAEs returns the open SAEs in the order they were added.
func (w *Workspace) SAEs() []*SAE {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*SAE(nil), w.saes...)
}

// SAE is one sparse autoencoder of the workspace's model.
type SAE struct {
	W       *Workspace
	Path    string
	Hash    string
	Weights *sae.SAE
	Enc     *encoder.Encoder

	mu      sync.Mutex
	store   *store.Store
	release func(*store.Store) // closes a replaced store; nil: at once
}

// ReleaseReplacedStore sets how a store replaced by a new analysis or a
// reopened one is closed: a window whose background jobs may still read
// the old store closes it once they are done (by default it is closed at
// once). Close always closes the store at once.
func (s *SAE) ReleaseReplacedStore(release func(*store.Store)) {
	s.mu.Lock()
	s.release = release
	s.mu.Unlock()
}

// Name is a short label for tabs and lists.
func (s *SAE) Name() string { return s.Weights.Name() }

// Store returns the SAE's analysis, or nil before one was run or opened.
func (s *SAE) Store() *store.Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store
}

func (s *SAE) setStore(st *store.Store) {
	s.mu.Lock()
	old, release := s.store, s.release
	s.store = st
	s.mu.Unlock()
	if old == nil || old == st {
		return
	}
	if release != nil {
		release(old)
	} else {
		old.Close()
	}
}

func (s *SAE) close() error {
	s.mu.Lock()
	old := s.store
	s.store = nil
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
	s.Enc.Close()
	return s.Weights.Close()
}

// AddSAE loads an SAE (a .pt file or SAELens folder; hook overrides what
// the file says) and checks that it fits the model.
func (w *Workspace) AddSAE(path, hook string) (*SAE, error) {
	return w.AddSAEWith(path, SAEOptions{Hook: hook})
}

// SAEOptions are the choices made when an SAE is added.
type SAEOptions struct {
	// Hook overrides the hook the file says.
	Hook string
	// FoldDecNorm folds the decoder norms into the encoder at load
	// (sae.SAE.FoldDecoderNorm), for activations on Neuronpedia's scale.
	FoldDecNorm bool
}

// AddSAEWith is AddSAE with options.
func (w *Workspace) AddSAEWith(path string, opt SAEOptions) (*SAE, error) {
	ws, err := sae.Load(path, opt.Hook)
	if err != nil {
		return nil, err
	}
	if opt.FoldDecNorm {
		if err := ws.FoldDecoderNorm(); err != nil {
			ws.Close()
			return nil, err
		}
	}
	cfg := w.Model.Config
	if err := ws.Fits(cfg); err != nil {
		ws.Close()
		return nil, err
	}
	enc, err := encoder.New(w.Backend, ws)
	if err != nil {
		ws.Close()
		return nil, err
	}
	hash, err := weights.Fingerprint(path)
	if err != nil {
		enc.Close()
		ws.Close()
		return nil, err
	}
	s := &SAE{W: w, Path: path, Hash: hash, Weights: ws, Enc: enc}
	w.mu.Lock()
	w.saes = append(w.saes, s)
	w.mu.Unlock()
	return s, nil
}

// AnalysisMeta returns the store metadata (sources, parameters, key) of an
// analysis of c with params.
func (s *SAE) AnalysisMeta(c *corpus.Corpus, params store.Params) store.Meta {
	meta := store.Meta{Params: params,
		Model:  store.Source{Path: s.W.ModelDir, Hash: s.W.ModelHash},
		SAE:    store.Source{Path: s.Path, Hash: s.Hash},
		Corpus: store.Source{Path: c.Path, Hash: c.Hash},
		Hook:   s.Weights.Hook.String()}
	meta.Params.Rows, meta.Params.SeqLen = len(c.Rows), len(c.Rows[0])
	if c.TokenRows {
		// exact rows are scanned as given: with BOS excluded when they
		// start with it, every position counted when they do not
		meta.Corpus.Kind, meta.Params.NoBOS = store.TokenRows, c.NoBOS
	}
	meta.Params.FoldDecNorm = s.Weights.FoldedDecoderNorm
	meta.Key = analysis.Key(meta)
	return meta
}

// OpenCached opens a finished analysis of c with params from dir (the
// cache folder when empty), and reports whether there was one.
func (s *SAE) OpenCached(dir string, c *corpus.Corpus, params store.Params) (bool, error) {
	if dir == "" {
		var err error
		if dir, err = analysis.CacheDir(); err != nil {
			return false, err
		}
	}
	meta := s.AnalysisMeta(c, params)
	st, err := analysis.OpenCached(dir, meta.Key)
	if err != nil || st == nil {
		return false, err
	}
	s.setStore(st)
	return true, nil
}

// Analyze scans c (or reopens the finished analysis) and makes the store
// the SAE's. The store is written into dir (the cache folder when empty)
// before it is used, so a crash after Analyze loses nothing.
func (s *SAE) Analyze(ctx context.Context, dir string, c *corpus.Corpus, params store.Params, force bool, progress func(analysis.Progress)) error {
	if dir == "" {
		var err error
		if dir, err = analysis.CacheDir(); err != nil {
			return err
		}
	}
	if len(c.Rows) == 0 {
		return errors.New("analyze: the corpus has no rows")
	}
	if !force {
		if ok, err := s.OpenCached(dir, c, params); err != nil || ok {
			return err
		}
	}
	meta := s.AnalysisMeta(c, params)
	st, err := analysis.Scan(ctx, s.W.Model, s.Enc, c.Rows, meta, progress)
	if err != nil {
		return err
	}
	st.Meta.Key = meta.Key
	if progress != nil {
		progress(analysis.Progress{Stage: "writing", Rows: len(c.Rows), TotalRows: len(c.Rows)})
	}
	path := analysis.StorePath(dir, meta.Key)
	if err := st.Write(path); err != nil {
		return err
	}
	opened, err := store.Open(path)
	if err != nil {
		return err
	}
	s.setStore(opened)
	return nil
}

// AnalyzeMany scans c with the SAEs (of w, all read on c's rows: the
// same BOS convention) in one pass (analysis.ScanMany), or reopens the
// finished analysis of those that have one unless force, and makes each
// store its SAE's. params gives each SAE's parameters (the same batch
// size for all). progress is called with the SAE a report is about. The
// stores are written into dir (the cache folder when empty) only once
// every SAE's scan is complete, each atomically: a cancelled or failed
// scan writes none and leaves every SAE its old store.
func (w *Workspace) AnalyzeMany(ctx context.Context, dir string, c *corpus.Corpus, saes []*SAE, params func(*SAE) store.Params, force bool, progress func(*SAE, analysis.Progress)) error {
	if dir == "" {
		var err error
		if dir, err = analysis.CacheDir(); err != nil {
			return err
		}
	}
	if len(c.Rows) == 0 {
		return errors.New("analyze: the corpus has no rows")
	}
	var todo []*SAE
	var targets []analysis.Target
	for _, s := range saes {
		if s.W != w {
			return fmt.Errorf("analyze: %s is not an SAE of this workspace", s.Name())
		}
		if !force {
			ok, err := s.OpenCached(dir, c, params(s))
			if err != nil {
				return fmt.Errorf("analyze %s: %w", s.Name(), err)
			}
			if ok {
				continue
			}
		}
		todo = append(todo, s)
		targets = append(targets, analysis.Target{Enc: s.Enc, Meta: s.AnalysisMeta(c, params(s))})
	}
	if len(todo) == 0 {
		return nil
	}
	var each func(int, analysis.Progress)
	if progress != nil {
		each = func(i int, p analysis.Progress) { progress(todo[i], p) }
	}
	sts, err := analysis.ScanMany(ctx, w.Model, c.Rows, targets, each)
	if err != nil {
		return err
	}
	paths := make([]string, len(sts))
	for i, st := range sts {
		st.Meta.Key = targets[i].Meta.Key
		if progress != nil {
			progress(todo[i], analysis.Progress{Stage: "writing", Rows: len(c.Rows), TotalRows: len(c.Rows)})
		}
		paths[i] = analysis.StorePath(dir, st.Meta.Key)
		if err := st.Write(paths[i]); err != nil {
			return fmt.Errorf("analyze %s: %w", todo[i].Name(), err)
		}
		sts[i] = nil // written: its memory can go
	}
	for i, s := range todo {
		opened, err := store.Open(paths[i])
		if err != nil {
			return fmt.Errorf("analyze %s: %w", s.Name(), err)
		}
		s.setStore(opened)
	}
	return nil
}

// TextActs are an SAE's feature activations on a typed text.
type TextActs struct {
	Tokens  []int     // BOS first
	Display []string  // display strings of Tokens
	DSae    int       // features per position
	Acts    []float32 // [len(Tokens)][DSae]
	// Truncated is true when the text had more tokens than the model's
	// context and was cut.
	Truncated bool
}

// Feature returns feature f's activation at each position.
func (t *TextActs) Feature(f int) []float32 {
	out := make([]float32, len(t.Tokens))
	for i := range out {
		out[i] = t.Acts[i*t.DSae+f]
	}
	return out
}

// Encode tokenizes text (BOS prepended), cuts it to the model's context,
// and returns every feature's activation at every position.
func (s *SAE) Encode(ctx context.Context, text string) (*TextActs, error) {
	if !utf8.ValidString(text) {
		return nil, errors.New("the text is not valid UTF-8")
	}
	if utf8.RuneCountInString(text) > MaxTextRunes {
		return nil, fmt.Errorf("the text has more than %d characters", MaxTextRunes)
	}
	ids := s.W.Tok.ToTokens(text)
	res := &TextActs{DSae: s.Weights.DSae}
	if n := s.W.Model.Config.NPositions; len(ids) > n {
		ids, res.Truncated = ids[:n], true
	}
	tokens := make([]int32, len(ids))
	for i, id := range ids {
		tokens[i] = int32(id)
	}
	if s.Weights.NoBOS && len(tokens) > 1 && tokens[0] == tokenizer.BOS {
		// an SAE trained without BOS sees the text alone; the BOS slot
		// of the result (which the panes leave out) stays zero
		acts, err := features.Activations(ctx, s.W.Model, s.Enc, tokens[1:], 1, len(tokens)-1)
		if err != nil {
			return nil, err
		}
		res.Tokens, res.Display = ids, s.W.Tok.DisplayStrings(ids)
		res.Acts = append(make([]float32, s.Weights.DSae, s.Weights.DSae+len(acts)), acts...)
		return res, nil
	}
	acts, err := features.Activations(ctx, s.W.Model, s.Enc, tokens, 1, len(tokens))
	if err != nil {
		return nil, err
	}
	res.Tokens, res.Display, res.Acts = ids, s.W.Tok.DisplayStrings(ids), acts
	return res, nil
}

// Elicit ranks the features of an encoded text: the mean over positions
// (BOS dropped) when pos is nil, else the activations at one position of
// the BOS-dropped text (negative counts from the end).
func (t *TextActs) Elicit(k int, pos *int) ([]features.Ranked, error) {
	if len(t.Tokens) < 2 {
		return nil, errors.New("the text is empty: type something to elicit features")
	}
	return features.RankText(t.Acts, len(t.Tokens), t.DSae, k, pos)
}
