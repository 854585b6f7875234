package plots

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgpdf"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/internal/numfmt"
)

// Formats are the image formats plots export to.
var Formats = []string{"png", "svg", "pdf"}

// FormatOf returns the export format of a file name from its extension.
func FormatOf(path string) (string, error) {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	for _, f := range Formats {
		if ext == f {
			return f, nil
		}
	}
	if ext == "" {
		return "", fmt.Errorf("%q has no extension: name the file .png, .svg or .pdf", path)
	}
	return "", fmt.Errorf("cannot export a plot as .%s: name the file .png, .svg or .pdf", ext)
}

// PNGDPI is the resolution of PNG exports: one pixel per point, so a
// 900 × 500 plot is a 900 × 500 pixel image.
const PNGDPI = 72

// Render draws p at w × h points in format "png", "svg" or "pdf" (PNG at
// PNGDPI, so w × h pixels; PDF with its fonts embedded).
func Render(p *plot.Plot, w, h vg.Length, format string) ([]byte, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("plot size %g × %g must be positive", float64(w), float64(h))
	}
	var wt io.WriterTo
	switch strings.ToLower(strings.TrimPrefix(format, ".")) {
	case "png":
		c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(PNGDPI))
		drawPlot(c, p)
		wt = vgimg.PngCanvas{Canvas: c}
	case "svg":
		c := vgsvg.New(w, h)
		drawPlot(c, p)
		wt = c
	case "pdf":
		c := pdfCanvas{vgpdf.New(w, h)}
		drawPlot(c, p)
		wt = c
	default:
		return nil, fmt.Errorf("unknown plot format %q (png, svg, pdf)", format)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", format, err)
	}
	return buf.Bytes(), nil
}

// Save writes p to path in the format its extension names; w or h of 0
// take DefaultWidth and DefaultHeight. The file is written only once the
// plot rendered.
func Save(p *plot.Plot, path string, w, h vg.Length) error {
	format, err := FormatOf(path)
	if err != nil {
		return err
	}
	if w == 0 {
		w = DefaultWidth
	}
	if h == 0 {
		h = DefaultHeight
	}
	data, err := Render(p, w, h, format)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// Image rasterises p at w × h points, one pixel per point, for display.
func Image(p *plot.Plot, w, h vg.Length) image.Image { return ImageDPI(p, w, h, PNGDPI) }

// ImageDPI rasterises p at w × h points and dpi dots per inch (w·dpi/72
// pixels wide): a window scaled by s shows it sharp at dpi = 72·s.
func ImageDPI(p *plot.Plot, w, h vg.Length, dpi int) image.Image {
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(max(1, dpi)))
	drawPlot(c, p)
	return c.Image()
}

// drawPlot draws p on c (with canvas' margin), its title's lines broken
// at spaces to fit the width (a long note under the title would be cut
// at both sides); p itself is not changed.
func drawPlot(c vg.CanvasSizer, p *plot.Plot) {
	dc := canvas(c, p)
	q := *p
	q.Title.Text = wrapLines(p.Title.Text, dc.Max.X-dc.Min.X, p.Title.TextStyle.Width)
	q.Draw(dc)
}

// wrapLines breaks each line of s at spaces so that no line is wider than
// w as measured by width (a word wider than w stays on its own line).
func wrapLines(s string, w vg.Length, width func(string) vg.Length) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if width(line) <= w {
			out = append(out, line)
			continue
		}
		cur := ""
		for _, word := range strings.Fields(line) {
			switch {
			case cur == "":
				cur = word
			case width(cur+" "+word) <= w:
				cur += " " + word
			default:
				out = append(out, cur)
				cur = word
			}
		}
		out = append(out, cur)
	}
	return strings.Join(out, "\n")
}

// canvas leaves a margin around the plot, so that the last tick label and
// the end bars are not cut at the border; the margin takes the plot's
// background.
func canvas(c vg.CanvasSizer, p *plot.Plot) draw.Canvas {
	dc := draw.New(c)
	if p.BackgroundColor != nil {
		dc.SetColor(p.BackgroundColor)
		dc.Fill(dc.Rectangle.Path())
	}
	return draw.Crop(dc, margin, -margin-4, margin/2, -margin)
}

// pdfCanvas works around vgpdf taking a translucent colour's
// premultiplied components for its straight ones, which darkened every
// translucent fill (and greyed the legend's white backdrop).
type pdfCanvas struct{ *vgpdf.Canvas }

func (c pdfCanvas) SetColor(clr color.Color) {
	if clr != nil {
		if n := color.NRGBAModel.Convert(clr).(color.NRGBA); n.A != 0xff {
			clr = straightColor(n)
		}
	}
	c.Canvas.SetColor(clr)
}

// straightColor reports its components not premultiplied, as vgpdf reads them.
type straightColor color.NRGBA

func (s straightColor) RGBA() (r, g, b, a uint32) {
	return uint32(s.R) * 0x101, uint32(s.G) * 0x101, uint32(s.B) * 0x101, uint32(s.A) * 0x101
}

// WriteCSV writes the binned data of a figure: one row per bin with its
// edges, then each series' count and drawn height (fraction of its
// samples, or the count again with Options.Counts).
func WriteCSV(w io.Writer, f *Figure) error {
	cw := csv.NewWriter(w)
	head := []string{"bin_lo", "bin_hi"}
	if f.LogX {
		head = []string{"log10_bin_lo", "log10_bin_hi"}
	}
	for _, b := range f.Bars {
		head = append(head, b.Key+"_count", b.Key+"_height")
	}
	cw.Write(head)
	if len(f.Bars) > 0 {
		for i := range f.Bars[0].Counts {
			row := []string{fmtCSV(f.Bars[0].Edges[i]), fmtCSV(f.Bars[0].Edges[i+1])}
			for _, b := range f.Bars {
				row = append(row, strconv.Itoa(b.Counts[i]), fmtCSV(b.Heights[i]))
			}
			cw.Write(row)
		}
	}
	cw.Flush()
	return cw.Error()
}

// FeatureCSVHeader is the header of WriteFeatureCSV.
var FeatureCSVHeader = []string{"id", "mean", "cv", "frequency", "max", "count", "dead"}

// WriteFeatureCSV writes a feature table (σ/μ of a dead feature is empty).
func WriteFeatureCSV(w io.Writer, stats []store.FeatureStats) error {
	cw := csv.NewWriter(w)
	cw.Write(FeatureCSVHeader)
	for _, st := range stats {
		cw.Write([]string{strconv.Itoa(st.ID), fmtCSV(st.Mean), fmtCSV(st.CV), fmtCSV(st.Frequency),
			fmtCSV(st.Max), strconv.Itoa(st.Count), strconv.FormatBool(st.Dead)})
	}
	cw.Flush()
	return cw.Error()
}

func fmtCSV(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// SummaryRow is one summary number of a store, formatted.
type SummaryRow struct {
	Key   string  // machine name, as in the store's JSON summary
	Label string  // what it is
	Value float64 // the number (NaN when the store lacks it)
	Text  string  // formatted for display
}

// Summary returns the store's summary numbers: L0 (learnt and random),
// dead features, the losses and the reconstruction score.
func Summary(s *store.Store) []SummaryRow {
	m := s.Meta.Summary
	d := s.DSae()
	rows := []SummaryRow{
		{"tokens", "tokens counted", float64(m.Tokens), numfmt.Thousands(m.Tokens)},
		{"l0", "L0: mean active features per token (learnt SAE)", m.L0, fmtNum(m.L0)},
		{"random_l0", "L0 of the random directions", m.RandomL0, fmtNum(m.RandomL0)},
		{"dead", "dead features (never fire)", float64(m.Dead), fmt.Sprintf("%s of %s (%s)", numfmt.Thousands(m.Dead), numfmt.Thousands(d), fmtPercent(frac(m.Dead, d)))},
	}
	recon := m.LossZero != 0 || m.LossClean != 0 || m.LossRecons != 0
	loss := func(key, label string, v float64) SummaryRow {
		if !recon {
			return SummaryRow{key, label, math.NaN(), "not measured"}
		}
		return SummaryRow{key, label, v, strconv.FormatFloat(v, 'f', 4, 64)}
	}
	rows = append(rows,
		loss("loss_clean", "loss, clean model (nats/token)", m.LossClean),
		loss("loss_recons", "loss, SAE spliced in", m.LossRecons),
		loss("loss_zero", "loss, hook zero-ablated", m.LossZero),
		loss("loss_mean", "loss, hook mean-ablated", m.LossMean),
		loss("recon_score", "reconstruction score (L_zero - L_recons) / (L_zero - L_clean)", m.ReconScore))
	return rows
}

func frac(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// SummaryText writes the summary as aligned "label  value" lines.
func SummaryText(rows []SummaryRow) string {
	width := 0
	for _, r := range rows {
		width = max(width, len(r.Label))
	}
	var sb strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&sb, "%-*s  %s\n", width, r.Label, r.Text)
	}
	return sb.String()
}

// WriteSummaryCSV writes the summary as key,label,value rows.
func WriteSummaryCSV(w io.Writer, rows []SummaryRow) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"key", "label", "value"})
	for _, r := range rows {
		cw.Write([]string{r.Key, r.Label, fmtCSV(r.Value)})
	}
	cw.Flush()
	return cw.Error()
}
