package ui

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/weights/catalog"
)

// shippedLabel is how the built-in corpus is listed.
const shippedLabel = "Shipped corpus (built in)"

// WorkspaceBar picks the model, the SAEs and the corpus, and runs the
// analysis.
type WorkspaceBar struct {
	s       *Shell
	content fyne.CanvasObject

	Model     *widget.SelectEntry
	OpenModel *widget.Button
	SAE       *widget.SelectEntry
	Hook      *widget.Entry
	// FoldDec folds the next SAE's decoder norms into its encoder (its
	// activations on Neuronpedia's scale).
	FoldDec *widget.Check
	AddSAE  *widget.Button
	Corpus  *widget.SelectEntry
	Rows    *widget.Entry
	Analyze *widget.Button
	Cancel  *widget.Button
	// NoBOS names the workspace's SAEs trained without BOS, scanned on
	// rows without it (hidden when there are none).
	NoBOS   *widget.Label
	sources map[string]string // label of a local source → its path
	options [3][]string
}

func newWorkspaceBar(s *Shell) *WorkspaceBar {
	b := &WorkspaceBar{s: s, sources: map[string]string{}}
	b.Model = widget.NewSelectEntry(nil)
	b.Model.SetPlaceHolder("GPT-2 model folder (config.json + weights), or one from the Hugging Face cache")
	b.OpenModel = widget.NewButtonWithIcon("Open model", theme.FolderOpenIcon(), func() {
		s.OpenModel(b.ModelDir(), nil)
	})
	b.Model.OnSubmitted = func(string) { s.OpenModel(b.ModelDir(), nil) }
	browseModel := widget.NewButton("Folder…", func() { b.browseFolder(b.Model.SetText) })

	b.SAE = widget.NewSelectEntry(nil)
	b.SAE.SetPlaceHolder("SAE: a .pt file or a SAELens folder (cfg.json + sae_weights.safetensors)")
	b.Hook = widget.NewEntry()
	b.Hook.SetPlaceHolder("hook (from the file)")
	b.FoldDec = widget.NewCheck("Fold W_dec norms", nil)
	b.AddSAE = widget.NewButtonWithIcon("Add SAE", theme.ContentAddIcon(), b.addSAE)
	b.SAE.OnSubmitted = func(string) { b.addSAE() }
	saeFile := widget.NewButton("File…", func() {
		b.browseFile([]string{".pt", ".pth", ".bin"}, b.SAE.SetText)
	})
	saeFolder := widget.NewButton("Folder…", func() { b.browseFolder(b.SAE.SetText) })

	b.Corpus = widget.NewSelectEntry([]string{shippedLabel})
	b.Corpus.SetText(shippedLabel)
	b.Corpus.SetPlaceHolder("corpus: .txt, .jsonl, .parquet or a folder of them; or exact token rows: .npy, .safetensors, .json")
	corpusFile := widget.NewButton("File…", func() {
		b.browseFile(corpusExtensions(), b.Corpus.SetText)
	})
	corpusFolder := widget.NewButton("Folder…", func() { b.browseFolder(b.Corpus.SetText) })
	b.Rows = widget.NewEntry()
	b.Rows.SetText(fmt.Sprint(analysis.DefaultParams().Rows))
	// a field picked or typed after an error: the error no longer
	// describes the bar, a hint of the next step replaces it
	b.Model.OnChanged = func(text string) { s.replaceError(barHint("Model folder", text, "Open model loads it")) }
	b.SAE.OnChanged = func(text string) { s.replaceError(barHint("SAE", text, "Add SAE opens it")) }
	b.Corpus.OnChanged = func(text string) { s.replaceError(barHint("Corpus", text, "Analyze scans it")) }
	b.Analyze = widget.NewButtonWithIcon("Analyze", theme.MediaPlayIcon(), func() { s.Analyze(false) })
	b.Analyze.Importance = widget.HighImportance
	b.Cancel = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), s.CancelAnalysis)
	b.Cancel.Hide() // shown in the status bar while an analysis runs

	hook := container.NewGridWrap(fyne.NewSize(190, b.Hook.MinSize().Height), b.Hook)
	rows := container.NewGridWrap(fyne.NewSize(70, b.Rows.MinSize().Height), b.Rows)
	form := container.New(layout.NewFormLayout(),
		widget.NewLabel("Model"), container.NewBorder(nil, nil, nil, container.NewHBox(browseModel, b.OpenModel), b.Model),
		widget.NewLabel("SAE"), container.NewBorder(nil, nil, nil, container.NewHBox(hook, b.FoldDec, saeFile, saeFolder, b.AddSAE), b.SAE),
		widget.NewLabel("Corpus"), container.NewBorder(nil, nil, nil,
			container.NewHBox(corpusFile, corpusFolder, widget.NewLabel("Rows"), rows, b.Analyze), b.Corpus),
	)
	b.NoBOS = widget.NewLabel("")
	b.NoBOS.Wrapping = fyne.TextWrapWord
	b.NoBOS.Hide()
	b.content = container.NewVBox(form, b.NoBOS)
	return b
}

// SetNoBOS names the SAEs of the workspace that were trained without BOS
// (SAELens prepend_bos false) and are scanned on rows without it; the
// note is hidden when there are none.
func (b *WorkspaceBar) SetNoBOS(names []string) {
	switch len(names) {
	case 0:
		b.NoBOS.SetText("")
		b.NoBOS.Hide()
		return
	case 1:
		b.NoBOS.SetText(names[0] + ": scanned without BOS, as it was trained (prepend_bos false).")
	default:
		b.NoBOS.SetText(strings.Join(names, ", ") + ": scanned without BOS, as they were trained (prepend_bos false).")
	}
	b.NoBOS.Show()
}

// Content is the bar's widget tree.
func (b *WorkspaceBar) Content() fyne.CanvasObject { return b.content }

// SetSources lists what is on disk already (catalogue entries and GPT-2
// checkpoints in the Hugging Face cache) and the recent model folders in
// the choosers.
func (b *WorkspaceBar) SetSources(sources []LocalSource, recent []string) {
	var models, saes []string
	corpora := []string{shippedLabel}
	for _, src := range sources {
		b.sources[src.Label] = src.Path
		switch src.Kind {
		case catalog.KindModel:
			models = append(models, src.Label)
		case catalog.KindSAE:
			saes = append(saes, src.Label)
		case catalog.KindCorpus:
			corpora = append(corpora, src.Label)
		}
	}
	for _, r := range recent {
		if !slices.Contains(models, r) {
			models = append(models, r)
		}
	}
	b.Model.SetOptions(models)
	b.SAE.SetOptions(saes)
	b.Corpus.SetOptions(corpora)
	b.options = [3][]string{models, saes, corpora}
}

// Options returns what the model, SAE and corpus choosers list.
func (b *WorkspaceBar) Options() (models, saes, corpora []string) {
	return b.options[0], b.options[1], b.options[2]
}

// resolve maps a chooser's text to a path.
func (b *WorkspaceBar) resolve(text string) string {
	t := strings.TrimSpace(text)
	if p, ok := b.sources[t]; ok {
		return p
	}
	return t
}

// ModelDir resolves the model chooser's text to a folder.
func (b *WorkspaceBar) ModelDir() string { return b.resolve(b.Model.Text) }

// CorpusPath resolves the corpus chooser's text (ShippedCorpus for the
// built-in corpus).
func (b *WorkspaceBar) CorpusPath() string {
	t := strings.TrimSpace(b.Corpus.Text)
	if t == "" || t == shippedLabel || strings.EqualFold(t, ShippedCorpus) || strings.EqualFold(t, "demo") {
		return ShippedCorpus
	}
	return b.resolve(t)
}

// SetCorpus shows a corpus path (ShippedCorpus for the built-in one).
func (b *WorkspaceBar) SetCorpus(path string, rows int) {
	if path == "" || path == ShippedCorpus {
		b.Corpus.SetText(shippedLabel)
	} else {
		b.Corpus.SetText(path)
	}
	if rows > 0 {
		b.Rows.SetText(fmt.Sprint(rows))
	}
}

func (b *WorkspaceBar) addSAE() {
	path := b.resolve(b.SAE.Text)
	b.s.AddSAE(SAESpec{Path: path, Hook: strings.TrimSpace(b.Hook.Text), FoldDecNorm: b.FoldDec.Checked}, nil)
}

// SetRunning switches the Analyze and Cancel buttons.
func (b *WorkspaceBar) SetRunning(running bool) {
	if running {
		b.Analyze.Disable()
		b.Cancel.Show()
	} else {
		b.Analyze.Enable()
		b.Cancel.Hide()
	}
}

func (b *WorkspaceBar) browseFolder(set func(string)) {
	d := dialog.NewFolderOpen(func(u fyne.ListableURI, err error) {
		if err != nil || u == nil {
			return
		}
		set(u.Path())
	}, b.s.Window)
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

func (b *WorkspaceBar) browseFile(exts []string, set func(string)) {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		r.Close()
		set(r.URI().Path())
	}, b.s.Window)
	d.SetFilter(storage.NewExtensionFileFilter(exts))
	if dir := filepath.Dir(strings.TrimSpace(b.SAE.Text)); dir != "." {
		if l, err := storage.ListerForURI(storage.NewFileURI(dir)); err == nil {
			d.SetLocation(l)
		}
	}
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}
