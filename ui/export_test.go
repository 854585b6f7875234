package ui

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/compute/workspace"
	"github.com/saescope/saescope/ui/labels"
)

// saveTo makes the export buttons write into dir under the suggested
// name (or the name rename gives), instead of asking; it returns the
// paths written, in order.
func saveTo(t *testing.T, dir string, rename func(string) string) *[]string {
	t.Helper()
	var paths []string
	old := askSave
	askSave = func(_ fyne.Window, name string, then func(io.WriteCloser, string)) {
		if rename != nil {
			name = rename(name)
		}
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Error(err)
			return
		}
		paths = append(paths, path)
		then(f, path)
	}
	t.Cleanup(func() { askSave = old })
	return &paths
}

// exported waits for the exports in flight and returns the last file.
func exported(t *testing.T, v *View, paths *[]string) []byte {
	t.Helper()
	v.Jobs.Wait()
	drainUI()
	if len(*paths) == 0 {
		t.Fatal("nothing exported")
	}
	data, err := os.ReadFile((*paths)[len(*paths)-1])
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// checkFormat decodes an exported plot: a PNG image of the standard
// size, an SVG document, or a complete PDF.
func checkFormat(t *testing.T, format string, data []byte) {
	t.Helper()
	switch format {
	case "png":
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("png: %v", err)
		}
		if b := img.Bounds(); b.Dx() != 900 || b.Dy() != 500 {
			t.Errorf("png size %v", b)
		}
	case "svg":
		d := xml.NewDecoder(bytes.NewReader(data))
		root := ""
		n := 0
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("svg: %v", err)
			}
			if se, ok := tok.(xml.StartElement); ok {
				if root == "" {
					root = se.Name.Local
				}
				n++
			}
		}
		if root != "svg" || n < 50 {
			t.Errorf("svg: root %q, %d elements", root, n)
		}
	case "pdf":
		if !bytes.HasPrefix(data, []byte("%PDF-")) || !bytes.Contains(data[max(0, len(data)-64):], []byte("%%EOF")) ||
			!bytes.Contains(data, []byte("/Type /Page")) {
			t.Errorf("pdf: not a complete PDF (%d bytes)", len(data))
		}
	default:
		t.Fatalf("format %s", format)
	}
}

// readCSV parses an exported table.
func readCSV(t *testing.T, data []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// csvCounts sums the count columns of a binned-plot CSV.
func csvCounts(t *testing.T, rows [][]string) map[string]int {
	t.Helper()
	sums := map[string]int{}
	for _, r := range rows[1:] {
		for j, h := range rows[0] {
			if strings.HasSuffix(h, "_count") {
				n, err := strconv.Atoi(r[j])
				if err != nil {
					t.Fatal(err)
				}
				sums[strings.TrimSuffix(h, "_count")] += n
			}
		}
	}
	return sums
}

var ox struct {
	once sync.Once
	sae  *workspace.SAE
	err  error
}

// otherView is a view of the fixture's second SAE (SAELens, mlp_out, the
// same width as the first), with the synthetic store st (nil for none).
func otherView(t *testing.T, st *store.Store) *View {
	t.Helper()
	ws, _, _ := fixture(t)
	ox.once.Do(func() { ox.sae, ox.err = ws.AddSAE(fixSAELens, "") })
	if ox.err != nil {
		t.Fatal(ox.err)
	}
	book, err := labels.Open(t.TempDir(), ox.sae.Hash, ox.sae.Path)
	if err != nil {
		t.Fatal(err)
	}
	jobs := NewJobs()
	t.Cleanup(jobs.Close)
	v := NewView(ox.sae, ws.Tok, book, jobs)
	v.SetStore(st, false)
	return v
}

// The ranking exports the rows it shows as CSV.
func TestRankingExportsCSV(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewRankingPane(v)
	show(t, p.Content(), 600, 600)
	if p.ExportCSV.Disabled() {
		t.Error("CSV export disabled with an analysis open")
	}
	st := v.Store()
	v.SetStore(nil, false)
	if !p.ExportCSV.Disabled() {
		t.Error("CSV export enabled with no analysis")
	}
	v.SetStore(st, false)
	paths := saveTo(t, t.TempDir(), nil)
	p.RangeEntry.SetText("10-25")
	p.ApplyRange()
	test.Tap(p.ExportCSV)
	rows := readCSV(t, exported(t, v, paths))
	if len(rows) != 16 || strings.Join(rows[0], ",") != "id,mean,cv,frequency,max,count,dead" {
		t.Fatalf("%d rows, header %v", len(rows), rows[0])
	}
	for i, r := range rows[1:] {
		if r[0] != strconv.Itoa(p.Rows()[i].ID) || r[5] != strconv.Itoa(p.Rows()[i].Count) {
			t.Errorf("row %d: %v, table %+v", i, r, p.Rows()[i])
		}
	}
	if !strings.Contains(filepath.Base((*paths)[0]), "ranks-10-25") {
		t.Errorf("file name %s", (*paths)[0])
	}
}

// A feature's contexts export to one HTML file: a span per token with the
// chips' colours, the activating token marked.
func TestContextsExportHTML(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	p := NewContextsPane(v)
	show(t, p.Content(), 900, 700)
	paths := saveTo(t, t.TempDir(), nil)
	if !p.ExportHTML.Disabled() {
		t.Error("HTML export enabled with no feature selected")
	}
	f := v.Feature()
	for _, id := range []int{17, 40, 3} {
		if st, _ := v.Store().Stats(id); !st.Dead {
			f = id
			break
		}
	}
	v.Select(f)
	if p.ExportHTML.Disabled() {
		t.Fatal("HTML export disabled with a feature selected")
	}
	v.SetEntry(f, labels.Entry{Label: `<script>alert("x")</script> & co`})
	p.KEntry.SetText("7")
	test.Tap(p.ExportHTML)
	data := exported(t, v, paths)
	if bytes.Contains(data, []byte("<script>")) {
		t.Error("the label is not escaped")
	}
	ctxs := parseHTMLTokens(t, data)
	strips := p.TopList()
	if len(ctxs) != 7 || len(strips) != 7 {
		t.Fatalf("%d contexts in the file, %d in the pane", len(ctxs), len(strips))
	}
	for i, s := range strips {
		toks := s.Tokens()
		if len(ctxs[i]) != len(toks) {
			t.Fatalf("context %d: %d spans for %d tokens", i, len(ctxs[i]), len(toks))
		}
		for j, tok := range toks {
			bg, fg := s.ChipColours(j)
			want := fmt.Sprintf("background:#%02x%02x%02x;color:#%02x%02x%02x", bg.R, bg.G, bg.B, fg.R, fg.G, fg.B)
			h := ctxs[i][j]
			if h.style != want || h.text != tok.Text || (j == s.Marked()) != strings.Contains(h.class, "act") {
				t.Errorf("context %d token %d: %+v, want %s %q marked %v", i, j, h, want, tok.Text, j == s.Marked())
			}
			if !strings.Contains(h.title, fmt.Sprintf("id %d", tok.ID)) {
				t.Errorf("title %q", h.title)
			}
		}
	}
	if !bytes.Contains(data, []byte(fmt.Sprintf("Feature %d · %s", f, v.Name()))) || !bytes.Contains(data, []byte("reconstruction score")) {
		t.Error("header lacks the feature, the SAE or the summary")
	}
}

type htmlSpan struct{ class, style, title, text string }

// parseHTMLTokens reads an exported contexts file (well-formed XML) and
// returns each context's token spans.
func parseHTMLTokens(t *testing.T, data []byte) [][]htmlSpan {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(data))
	var out [][]htmlSpan
	var cur *htmlSpan
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			a := map[string]string{}
			for _, at := range x.Attr {
				a[at.Name.Local] = at.Value
			}
			if x.Name.Local == "li" {
				out = append(out, nil)
			}
			if x.Name.Local == "span" && strings.HasPrefix(a["class"], "tok") {
				cur = &htmlSpan{class: a["class"], style: a["style"], title: a["title"]}
			}
		case xml.CharData:
			if cur != nil {
				cur.text += string(x)
			}
		case xml.EndElement:
			if x.Name.Local == "span" && cur != nil {
				out[len(out)-1] = append(out[len(out)-1], *cur)
				cur = nil
			}
		}
	}
}

// findButton returns the button labelled text in o's containers.
func findButton(t *testing.T, o fyne.CanvasObject, text string) *widget.Button {
	t.Helper()
	var found *widget.Button
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		switch x := o.(type) {
		case *widget.Button:
			if x.Text == text && found == nil {
				found = x
			}
		case *fyne.Container:
			for _, c := range x.Objects {
				walk(c)
			}
		case *container.Split:
			walk(x.Leading)
			walk(x.Trailing)
		case *container.Scroll:
			walk(x.Content)
		}
	}
	walk(o)
	if found == nil {
		t.Fatalf("no button %q", text)
	}
	return found
}

// An export that fails half way (a closed store, a full disk) leaves no
// partial file, and says why.
func TestExportFailureLeavesNoFile(t *testing.T) {
	test.NewTempApp(t)
	v := newTestView(t)
	paths := saveTo(t, t.TempDir(), nil)
	var got error
	v.Export("the table", "t.csv", func(_ string, w io.Writer) error {
		fmt.Fprintln(w, "id,mean")
		return errors.New("the store was closed")
	}, func(_ string, err error) { got = err })
	v.Jobs.Wait()
	drainUI()
	if got == nil || !strings.Contains(got.Error(), "the store was closed") {
		t.Errorf("error %v", got)
	}
	if _, err := os.Stat((*paths)[0]); !os.IsNotExist(err) {
		t.Errorf("partial export left: %v", err)
	}
}
