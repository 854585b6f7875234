package ui

import (
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"

	"github.com/saescope/saescope/internal/numfmt"
	"github.com/saescope/saescope/weights/demo"
)

// DemoRows is how many 128-token rows of the shipped corpus the demo
// workspace analyses.
var DemoRows = 1000

// demoDir is the folder the demo files are written to (tests point it
// elsewhere).
var demoDir = demo.Dir

// demoPrefix marks the demo's SAE tabs.
const demoPrefix = "Demo · "

// OpenDemo opens the demo workspace, which needs no download: it writes
// the tiny GPT-2 trained on the shipped corpus and its two trained SAEs embedded in the binary to
// the cache folder (once), opens them on the shipped corpus and analyses
// them (a few seconds the first time; later the finished analysis
// reopens at once). then (if not nil) runs on the UI thread when it is
// open.
func (s *Shell) OpenDemo(then func(error)) {
	done := func(err error) {
		if then != nil {
			then(err)
		}
	}
	s.SetStatus("Opening the " + demo.Label + "…")
	go func() {
		dir, err := demoDir()
		var p demo.Paths
		if err == nil {
			p, err = demo.Materialize(dir)
		}
		uiDo(func() {
			if err != nil {
				s.showError(fmt.Errorf("demo workspace: %w", err))
				done(err)
				return
			}
			spec := withRememberedStores(LoadRecent(s.App.Preferences()), demoSpec(p))
			s.OpenWorkspace(spec, true, func(err error) {
				if err == nil {
					s.SetStatus(demoStatus(s.spec))
				}
				done(err)
			})
		})
	}()
}

// demoSpec is the demo workspace: both SAEs on the shipped corpus.
func demoSpec(p demo.Paths) WorkspaceSpec {
	w := WorkspaceSpec{Model: p.Model, Corpus: ShippedCorpus, Rows: DemoRows}
	for _, path := range p.SAEs {
		w.SAEs = append(w.SAEs, SAESpec{Path: path})
	}
	return w
}

// withRememberedStores gives w's SAEs the analyses a remembered
// workspace recorded for them on the same model, corpus and rows, so that
// they reopen without reading the corpus (AddSAE checks that a store
// matches the model and SAE before using it), and the state the window
// was left in when the SAEs are the same.
func withRememberedStores(recent []WorkspaceSpec, w WorkspaceSpec) WorkspaceSpec {
	for _, o := range recent {
		if o.Model != w.Model || o.Corpus != w.Corpus || o.Rows != w.Rows {
			continue
		}
		for i := range w.SAEs {
			for _, so := range o.SAEs {
				if w.SAEs[i].Store == "" && so.Store != "" && so.Path == w.SAEs[i].Path && so.Hook == w.SAEs[i].Hook {
					w.SAEs[i] = so
				}
			}
		}
		if w.State == nil && o.supersedes(w) && w.supersedes(o) { // the same SAEs: the window as it was left
			w.State = o.State
		}
	}
	return w
}

// isDemoSpec says whether a workspace is the demo's (its model is the
// demo's folder).
func isDemoSpec(w WorkspaceSpec) bool {
	if w.Model == "" {
		return false
	}
	dir, err := demoDir()
	if err != nil {
		return false
	}
	return filepath.Clean(w.Model) == filepath.Join(dir, "tiny-gpt2")
}

// demoStatus is the status line once the demo is open.
func demoStatus(w WorkspaceSpec) string {
	return fmt.Sprintf("%s: %d SAEs, shipped corpus (%s rows). The real models: File › Get models…",
		demo.Label, len(w.SAEs), numfmt.Thousands(w.Rows))
}

// demoDescription is how describeSpec names the demo workspace.
func demoDescription(w WorkspaceSpec) string {
	return fmt.Sprintf("%s, with %d SAEs on the shipped corpus", demo.Label, len(w.SAEs))
}

// demoTitle labels the window title and the SAE tabs when the demo is
// open, so that nobody mistakes it for GPT-2 small; it returns the title.
func (s *Shell) demoTitle(title string) string {
	if s.session == nil || !isDemoSpec(s.spec) {
		return title
	}
	changed := false
	for _, it := range s.Tabs.Items {
		if !strings.HasPrefix(it.Text, demoPrefix) {
			it.Text = demoPrefix + it.Text
			changed = true
		}
	}
	if changed {
		s.Tabs.Refresh()
	}
	rest := strings.TrimPrefix(title, Title)
	return Title + " — " + demo.Label + rest
}

// The cold-start measurement (SAESCOPE_TIMING=1): the time from the
// process' start to the first frame that shows a workspace's pane with
// its analysis. A transparent raster in the status bar is regenerated
// (its generator called by the painter) when that pane first appears.
var coldStart struct {
	probe   *canvas.Raster
	painted atomic.Bool // the first frame was painted
	armed   atomic.Bool // the first pane is in the widget tree
	logged  atomic.Bool
	what    atomic.Value // string: the pane's SAE
	armedAt atomic.Int64 // unix ns
}

// processStart is when the process started (from /proc on Linux, else
// when this package was initialised).
var processStart, processStartSource = findProcessStart()

var clearPixel = image.NewNRGBA(image.Rect(0, 0, 1, 1))

// coldStartProbe returns a raster for a window's status bar that logs
// when the first frames are painted (the process has one window: the
// last one made is the one measured).
func coldStartProbe() fyne.CanvasObject {
	coldStart.probe = canvas.NewRaster(func(w, h int) image.Image {
		if !timingOn {
			return clearPixel
		}
		if coldStart.painted.CompareAndSwap(false, true) {
			logTiming("first frame painted after %d ms (%s)", sinceStart(), processStartSource)
		}
		if coldStart.armed.Load() && coldStart.logged.CompareAndSwap(false, true) {
			what, _ := coldStart.what.Load().(string)
			logTiming("window usable after %d ms: first frame showing %s's ranking (%s; the widgets were ready %d ms earlier)",
				sinceStart(), what, processStartSource, time.Since(time.Unix(0, coldStart.armedAt.Load())).Milliseconds())
		}
		return clearPixel
	})
	return coldStart.probe
}

// noteFirstPane arms the probe once a workspace pane with an analysis is
// in the window, so that the next frame logs the cold start.
func (s *Shell) noteFirstPane() {
	if !timingOn || coldStart.armed.Load() || coldStart.probe == nil {
		return
	}
	e := s.Explorer()
	if e == nil || e.View.Store() == nil {
		return
	}
	coldStart.what.Store(e.View.Name())
	coldStart.armedAt.Store(time.Now().UnixNano())
	coldStart.armed.Store(true)
	logTiming("first pane in the widget tree after %d ms", sinceStart())
	coldStart.probe.Refresh()
}

func sinceStart() int64 { return time.Since(processStart).Milliseconds() }

// findProcessStart reads the process' age from /proc (10 ms resolution);
// where that fails, the package's initialisation stands for it.
func findProcessStart() (time.Time, string) {
	now := time.Now()
	stat, err1 := os.ReadFile("/proc/self/stat")
	up, err2 := os.ReadFile("/proc/uptime")
	if err1 != nil || err2 != nil {
		return now, "from the ui package's initialisation"
	}
	// Field 22 (starttime, in clock ticks since boot) comes after the
	// command name in parentheses, which may hold spaces.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	u := strings.Fields(string(up))
	if i < 0 || len(f) < 20 || len(u) < 1 {
		return now, "from the ui package's initialisation"
	}
	ticks, err1 := strconv.ParseFloat(f[19], 64)
	uptime, err2 := strconv.ParseFloat(u[0], 64)
	if err1 != nil || err2 != nil || uptime < ticks/100 {
		return now, "from the ui package's initialisation"
	}
	age := time.Duration((uptime - ticks/100) * float64(time.Second))
	return now.Add(-age), "from the process' start"
}
