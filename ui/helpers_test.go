package ui

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"

	"github.com/saescope/saescope/assets"
	"github.com/saescope/saescope/compute"
	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/cpu"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/compute/workspace"
	"github.com/saescope/saescope/ui/labels"
	"github.com/saescope/saescope/weights/corpus"
)

const fix = "../testdata/fixtures"

// testBackend is the window's backend in tests: the CPU with the best BLAS
// found, as the app's default.
func testBackend() (compute.Backend, error) { return cpu.New(cpu.BLASAuto) }

var (
	fixModel   = filepath.Join(fix, "tiny-gpt2")
	fixSAE     = filepath.Join(fix, "tiny-gpt2_256_resid_pre_1.pt")
	fixSAELens = filepath.Join(fix, "tiny-gpt2-saelens-mlp_out-0")
)

// testRows is the size of the analysis the pane tests use (the shipped
// corpus, 128-token rows).
const testRows = 48

var tmpRoot string

// uiQueue holds the work that background jobs hand to the UI thread; the
// test goroutine (the UI thread of the tests) runs it in drainUI.
var uiQueue = make(chan func(), 1<<16)

// drainUI runs the queued UI work and says whether there was any.
func drainUI() bool {
	ran := false
	for {
		select {
		case fn := <-uiQueue:
			fn()
			ran = true
		default:
			return ran
		}
	}
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "saescope-ui-test")
	if err != nil {
		panic(err)
	}
	tmpRoot = dir
	StoreDir = filepath.Join(dir, "stores")
	os.MkdirAll(StoreDir, 0o755)
	LabelDir = func() (string, error) { return filepath.Join(dir, "labels"), nil }
	uiDo = func(fn func()) { uiQueue <- fn }
	settled = drainUI
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var fx struct {
	once sync.Once
	ws   *workspace.Workspace
	sae  *workspace.SAE
	c    *corpus.Corpus
	err  error
}

// fixture returns the tiny model's workspace with its resid_pre SAE
// analysed on testRows rows of the shipped corpus (shared by the tests).
func fixture(t testing.TB) (*workspace.Workspace, *workspace.SAE, *store.Store) {
	t.Helper()
	fx.once.Do(func() {
		be, err := cpu.New(cpu.BLASAuto)
		if err != nil {
			fx.err = err
			return
		}
		if fx.ws, fx.err = workspace.Open(fixModel, be); fx.err != nil {
			return
		}
		if fx.sae, fx.err = fx.ws.AddSAE(fixSAE, ""); fx.err != nil {
			return
		}
		ctx := context.Background()
		fx.c, fx.err = corpus.LoadFS(ctx, assets.CorpusFS(), assets.CorpusDir, fx.ws.Tok, corpus.Options{SeqLen: 128, Rows: testRows}, nil)
		if fx.err != nil {
			return
		}
		p := analysis.DefaultParams()
		p.Rows = testRows
		fx.err = fx.sae.Analyze(ctx, filepath.Join(tmpRoot, "fixture-store"), fx.c, p, false, nil)
	})
	if fx.err != nil {
		t.Fatal(fx.err)
	}
	return fx.ws, fx.sae, fx.sae.Store()
}

// newTestView returns a view of the fixture SAE with its store and a
// fresh label book; jobs are closed at the end of the test.
func newTestView(t testing.TB) *View {
	t.Helper()
	ws, sae, st := fixture(t)
	book, err := labels.Open(t.TempDir(), sae.Hash, sae.Path)
	if err != nil {
		t.Fatal(err)
	}
	jobs := NewJobs()
	t.Cleanup(jobs.Close)
	v := NewView(sae, ws.Tok, book, jobs)
	v.SetStore(st, false)
	return v
}

// synthStore is a store of the fixture SAE's width (256) in which only
// features 0..live-1 fire: the others are dead.
func synthStore(live int) *store.Store {
	const rows, seq, d = 8, 32, 256
	rng := rand.New(rand.NewPCG(7, 8))
	n := rows * seq
	tokens := make([]int32, n)
	for i := range tokens {
		tokens[i] = int32(rng.IntN(50000))
		if i%seq == 0 {
			tokens[i] = 50256
		}
	}
	meta := store.Meta{DSae: d, DIn: 32, Hook: "blocks.1.hook_resid_pre", Params: store.Params{Rows: rows, SeqLen: seq}}
	b := store.NewBuilder(meta, tokens)
	for t := 0; t < n; t++ {
		counted := t%seq != 0
		var ids []uint32
		var vals []float32
		if counted {
			for f := 0; f < live; f++ {
				if rng.IntN(3) == 0 {
					ids = append(ids, uint32(f))
					vals = append(vals, float32(rng.ExpFloat64())+0.01)
				}
			}
		}
		b.AddToken(t, ids, vals, counted)
	}
	st := b.Finish()
	st.Meta.Summary.Tokens = rows * (seq - 1)
	return st
}

// show puts o in a test window of the given size.
func show(t testing.TB, o fyne.CanvasObject, w, h float32) fyne.Window {
	t.Helper()
	win := test.NewTempWindow(t, o)
	win.Resize(fyne.NewSize(w, h))
	return win
}

// containerOf stacks panes vertically for a test window.
func containerOf(objs ...fyne.CanvasObject) fyne.CanvasObject {
	return container.NewVBox(objs...)
}

// openFixture opens the fixture model's workspace with the SAEs at paths
// (the fixture SAE when none) in a new shell of a, its window w×h,
// analysed first when analyse is set, and waits for its work to settle.
// The session closes with the test.
func openFixture(t *testing.T, a fyne.App, w, h float32, analyse bool, paths ...string) (*Shell, *Explorer) {
	t.Helper()
	if len(paths) == 0 {
		paths = []string{fixSAE}
	}
	spec := WorkspaceSpec{Model: fixModel, Corpus: ShippedCorpus, Rows: testRows}
	for _, p := range paths {
		spec.SAEs = append(spec.SAEs, SAESpec{Path: p})
	}
	s := NewShell(a, "test", testBackend)
	s.Window.Resize(fyne.NewSize(w, h))
	if err := wait(t, func(done func(error)) { s.OpenWorkspace(spec, analyse, done) }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.closeSession)
	settleAll(s)
	return s, s.Explorer()
}
