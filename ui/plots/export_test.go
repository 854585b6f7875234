package plots

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute/store"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// checkPNG decodes a PNG and checks its size in pixels.
func checkPNG(t *testing.T, data []byte, w, h int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("PNG does not decode: %v", err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("PNG is %v, want %d × %d", b, w, h)
	}
}

// checkSVG parses an SVG as XML and checks that its root is <svg>.
func checkSVG(t *testing.T, data []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	root := ""
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("SVG is not XML: %v", err)
			}
			break
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if root != "" {
					t.Fatalf("SVG has a second root <%s>", e.Name.Local)
				}
				root = e.Name.Local
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if root != "svg" || depth != 0 {
		t.Fatalf("SVG root <%s>, depth %d at the end", root, depth)
	}
}

// checkPDF checks the header and trailer of a PDF, and renders its first
// page with pdftoppm (poppler-utils) when that is installed.
func checkPDF(t *testing.T, data []byte) image.Image {
	t.Helper()
	if !bytes.HasPrefix(data, []byte("%PDF-")) || !bytes.Contains(data[max(0, len(data)-64):], []byte("%%EOF")) {
		t.Fatalf("not a PDF: starts %q, ends %q", data[:min(8, len(data))], data[max(0, len(data)-16):])
	}
	tool, err := exec.LookPath("pdftoppm")
	if err != nil {
		t.Log("pdftoppm not installed: PDF not rendered")
		return nil
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "p.pdf")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "-png", "-r", "36", "-f", "1", "-l", "1", in, filepath.Join(dir, "page")).CombinedOutput()
	if err != nil {
		t.Fatalf("pdftoppm: %v: %s", err, out)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "page*.png"))
	if len(pages) != 1 {
		t.Fatalf("pdftoppm wrote %v", pages)
	}
	img, err := os.ReadFile(pages[0])
	if err != nil {
		t.Fatal(err)
	}
	page, err := png.Decode(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("page 1 of the PDF: %v", err)
	}
	return page
}

// Every plot exports to PNG, SVG and PDF files that decode.
func TestExportFormats(t *testing.T) {
	figs := map[string]*Figure{}
	for _, kind := range store.PlotKinds {
		f, err := Distribution(testStore, kind, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		figs[string(kind)] = f
	}
	var err error
	if figs["density"], err = Density(testStore, 2, DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	if figs["compare"], err = Compare(testStore, []int{2, 3, 4}, DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, f := range figs {
		for _, format := range Formats {
			data, err := Render(f.Plot, 640, 360, format)
			if err != nil {
				t.Fatalf("%s %s: %v", name, format, err)
			}
			switch format {
			case "png":
				checkPNG(t, data, 640, 360)
			case "svg":
				checkSVG(t, data)
				if !bytes.Contains(data, []byte("fill-opacity")) {
					t.Errorf("%s: SVG without transparency", name)
				}
			case "pdf":
				checkPDF(t, data)
			}
			// Save picks the format from the extension, any case.
			path := filepath.Join(dir, name+"."+strings.ToUpper(format))
			if err := Save(f.Plot, path, 0, 0); err != nil {
				t.Fatal(err)
			}
			saved, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			switch format {
			case "png":
				checkPNG(t, saved, int(DefaultWidth), int(DefaultHeight))
			case "svg":
				checkSVG(t, saved)
			case "pdf":
				checkPDF(t, saved)
			}
		}
	}
}

func TestExportErrors(t *testing.T) {
	f, err := Density(testStore, 2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "a.jpg"), "cannot export a plot as .jpg"},
		{filepath.Join(dir, "a"), "no extension"},
		{filepath.Join(dir, "missing", "a.png"), "no such file"},
	} {
		if err := Save(f.Plot, c.path, 0, 0); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.path, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "a.jpg")); err == nil {
		t.Error("a file was written for an unknown format")
	}
	if _, err := Render(f.Plot, 100, 100, "gif"); err == nil {
		t.Error("gif accepted")
	}
	if _, err := Render(f.Plot, 0, 100, "png"); err == nil {
		t.Error("zero width accepted")
	}
}

// Image gives one pixel per point, ImageDPI scales; the plot is drawn
// (not blank) with both colours and their overlap.
func TestImage(t *testing.T) {
	f, err := Distribution(testStore, store.PlotFrequency, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	img := Image(f.Plot, 900, 500)
	if b := img.Bounds(); b.Dx() != 900 || b.Dy() != 500 {
		t.Errorf("image %v", b)
	}
	if b := ImageDPI(f.Plot, 450, 250, 144).Bounds(); b.Dx() != 900 || b.Dy() != 500 {
		t.Errorf("image at 144 dpi %v", b)
	}
	if blue, orange := translucent(img); blue < 500 || orange < 500 {
		t.Errorf("translucent fills not visible: %d blue and %d orange pixels", blue, orange)
	}
}

// translucent counts the pixels of the learnt (blue) and random (orange)
// fills at half opacity over white: light blue and light orange.
func translucent(img image.Image) (blue, orange int) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			switch {
			case bl > r+40 && bl > 180 && r > 110 && g > 150: // about (143, 187, 217)
				blue++
			case r > bl+60 && r > 230 && g > 170 && bl > 110: // about (255, 191, 134)
				orange++
			}
		}
	}
	return blue, orange
}

// The PDF keeps the fills translucent and light (vgpdf alone darkens them).
func TestPDFTransparency(t *testing.T) {
	if _, err := exec.LookPath("pdftoppm"); err != nil {
		t.Skip("pdftoppm (poppler-utils) not installed")
	}
	f, err := Distribution(testStore, store.PlotFrequency, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	data, err := Render(f.Plot, 900, 500, "pdf")
	if err != nil {
		t.Fatal(err)
	}
	if blue, orange := translucent(checkPDF(t, data)); blue < 100 || orange < 100 {
		t.Errorf("PDF fills: %d light blue and %d light orange pixels", blue, orange)
	}
}

func TestWriteCSV(t *testing.T) {
	o := Options{Bins: 12, Counts: true}
	f, err := Distribution(testStore, store.PlotFeaturesPerToken, o)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, f); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "bin_lo,bin_hi,learnt_count,learnt_height,random_count,random_height" {
		t.Errorf("header %v", rows[0])
	}
	if len(rows) != len(f.Bars[0].Counts)+1 {
		t.Fatalf("%d rows for %d bins", len(rows), len(f.Bars[0].Counts))
	}
	learnt, random := 0, 0
	for _, r := range rows[1:] {
		a, _ := strconv.Atoi(r[2])
		b, _ := strconv.Atoi(r[4])
		learnt += a
		random += b
	}
	if learnt != testStore.Meta.Summary.Tokens || random != testStore.Meta.Summary.RandomTokens {
		t.Errorf("CSV counts sum to %d and %d", learnt, random)
	}
	lo, _ := strconv.ParseFloat(rows[1][0], 64)
	if lo != f.Bars[0].Edges[0] {
		t.Errorf("first edge %v, want %g", rows[1][0], f.Bars[0].Edges[0])
	}
}

func TestWriteFeatureCSV(t *testing.T) {
	var buf bytes.Buffer
	stats := testStore.AllStats()
	if err := WriteFeatureCSV(&buf, stats); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "id,mean,cv,frequency,max,count,dead" || len(rows) != testStore.DSae()+1 {
		t.Fatalf("header %v, %d rows", rows[0], len(rows))
	}
	dead := rows[1+17]
	if dead[0] != "17" || dead[2] != "" || dead[5] != "0" || dead[6] != "true" {
		t.Errorf("dead feature row %v", dead)
	}
	live := rows[1+2]
	mean, _ := strconv.ParseFloat(live[1], 64)
	if live[6] != "false" || mean != stats[2].Mean {
		t.Errorf("feature 2 row %v, mean %g", live, stats[2].Mean)
	}
}

func TestSummary(t *testing.T) {
	rows := Summary(testStore)
	got := map[string]SummaryRow{}
	for _, r := range rows {
		got[r.Key] = r
	}
	m := testStore.Meta.Summary
	for key, want := range map[string]float64{"l0": m.L0, "random_l0": m.RandomL0, "dead": 3, "loss_clean": 3.2,
		"loss_recons": 3.5, "loss_zero": 7.9, "loss_mean": 4.4, "recon_score": m.ReconScore, "tokens": float64(m.Tokens)} {
		if r, ok := got[key]; !ok || r.Value != want || r.Text == "" {
			t.Errorf("%s: %+v, want %g", key, r, want)
		}
	}
	if !strings.Contains(got["dead"].Text, "3 of 96") {
		t.Errorf("dead %q", got["dead"].Text)
	}
	text := SummaryText(rows)
	if strings.Count(text, "\n") != len(rows) || !strings.Contains(text, "reconstruction score") {
		t.Errorf("text:\n%s", text)
	}
	var buf bytes.Buffer
	if err := WriteSummaryCSV(&buf, rows); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != len(rows)+1 {
		t.Fatalf("%v %d", err, len(recs))
	}
	// A store without a reconstruction measurement.
	s := *testStore
	s.Meta.Summary.LossClean, s.Meta.Summary.LossRecons, s.Meta.Summary.LossZero = 0, 0, 0
	for _, r := range Summary(&s) {
		if r.Key == "recon_score" && (!math.IsNaN(r.Value) || r.Text != "not measured") {
			t.Errorf("unmeasured score %+v", r)
		}
	}
}

// Plots build and render from several goroutines at once (the panes draw
// off the UI thread).
func TestConcurrentRender(t *testing.T) {
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func(i int) {
			f, err := Distribution(testStore, store.PlotKinds[i%len(store.PlotKinds)], DefaultOptions())
			if err == nil {
				Image(f.Plot, 300, 200)
				_, err = Render(f.Plot, 300, 200, Formats[i%3])
			}
			errs <- err
		}(i)
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// A title line wider than the plot is broken at spaces (the log-density
// plot's note was cut at both sides in a 700-point pane); lines that fit
// and the break before the note stay.
func TestWrapLines(t *testing.T) {
	runes := func(s string) vg.Length { return vg.Length(len([]rune(s))) }
	cases := []struct {
		in   string
		w    vg.Length
		want string
	}{
		{"short title\n(a note)", 40, "short title\n(a note)"},
		{"one two three four", 9, "one two\nthree\nfour"},
		{"title\n(a long note that does not fit)", 12, "title\n(a long note\nthat does\nnot fit)"},
		{"averyveryverylongword and", 5, "averyveryverylongword\nand"},
	}
	for _, c := range cases {
		if got := wrapLines(c.in, c.w, runes); got != c.want {
			t.Errorf("wrapLines(%q, %v) = %q, want %q", c.in, c.w, got, c.want)
		}
	}
	// with the plots' font: every line of the density plot's title fits
	p := plot.New()
	p.Title.TextStyle.Font.Size = fontTitle
	p.Title.Text = "Feature density (log10 activation frequency): learnt SAE vs random directions\n(" +
		fmt.Sprintf(zeroNote, "299 features", "0 features") + ")"
	const w = 600
	if p.Title.TextStyle.Width(p.Title.Text) <= w {
		t.Fatal("the title fits unbroken: the test checks nothing")
	}
	for _, line := range strings.Split(wrapLines(p.Title.Text, w, p.Title.TextStyle.Width), "\n") {
		if p.Title.TextStyle.Width(line) > w {
			t.Errorf("line %q is %.0f wide, the plot %d", line, float64(p.Title.TextStyle.Width(line)), w)
		}
	}
}
