package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/saescope/saescope/compute/store"
)

// analyzeFixture scans the tiny fixture model into a store in dir.
func analyzeFixture(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "tiny.saestore")
	_, errs, code := runCLI(t, "analyze", "--model", fixModel, "--sae", fixSAE0, "--rows", "60", "--recon-rows", "2", "--out", path, "--quiet")
	if code != 0 {
		t.Fatalf("analyze: exit %d: %s", code, errs)
	}
	return path
}

type plotResult struct {
	Out    string    `json:"out"`
	Format string    `json:"format"`
	Kind   string    `json:"kind"`
	Edges  []float64 `json:"edges"`
	Note   string    `json:"note"`
	Series []struct {
		Name   string `json:"name"`
		N      int    `json:"n"`
		Counts []int  `json:"counts"`
	} `json:"series"`
}

func decodePlotFile(t *testing.T, path, format string, w, h int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	switch format {
	case "png":
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
			t.Errorf("%s: %v, want %d × %d", path, b, w, h)
		}
	case "svg":
		dec := xml.NewDecoder(bytes.NewReader(data))
		root := ""
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: not XML: %v", path, err)
			}
			if se, ok := tok.(xml.StartElement); ok && root == "" {
				root = se.Name.Local
			}
		}
		if root != "svg" {
			t.Errorf("%s: root <%s>", path, root)
		}
	case "pdf":
		if !bytes.HasPrefix(data, []byte("%PDF-")) || !bytes.Contains(data[max(0, len(data)-64):], []byte("%%EOF")) {
			t.Fatalf("%s: not a PDF", path)
		}
		tool, err := exec.LookPath("pdftoppm")
		if err != nil {
			return // poppler-utils not installed: header and trailer only
		}
		prefix := strings.TrimSuffix(path, ".pdf") + "-page"
		if out, err := exec.Command(tool, "-png", "-r", "30", "-f", "1", "-l", "1", path, prefix).CombinedOutput(); err != nil {
			t.Fatalf("pdftoppm %s: %v: %s", path, err, out)
		}
		pages, _ := filepath.Glob(prefix + "*.png")
		if len(pages) != 1 {
			t.Fatalf("pdftoppm wrote %v", pages)
		}
		page, _ := os.ReadFile(pages[0])
		if _, err := png.Decode(bytes.NewReader(page)); err != nil {
			t.Fatalf("page 1 of %s: %v", path, err)
		}
	}
}

func TestPlotCommand(t *testing.T) {
	dir := t.TempDir()
	st := analyzeFixture(t, dir)
	var stats struct {
		DSae    int `json:"d_sae"`
		Summary struct {
			Tokens       int `json:"tokens"`
			RandomTokens int `json:"random_tokens"`
		} `json:"summary"`
	}
	out, errs, code := runCLI(t, "stats", "--store", st)
	if code != 0 || json.Unmarshal([]byte(out), &stats) != nil {
		t.Fatalf("stats: %d %s", code, errs)
	}

	t.Run("every kind and format", func(t *testing.T) {
		kinds := []string{"features_per_token", "frequency", "mean", "unembed_entropy", "unembed_maxprob", "density"}
		for _, kind := range kinds {
			for _, format := range []string{"png", "svg", "pdf"} {
				path := filepath.Join(dir, kind+"."+format)
				args := []string{"plot", "--store", st, "--kind", kind, "--out", path, "--width", "640", "--height", "360"}
				if kind == "density" {
					args = append(args, "--feature", "3")
				}
				out, errs, code := runCLI(t, args...)
				if code != 0 {
					t.Fatalf("%v: exit %d: %s", args, code, errs)
				}
				var res plotResult
				if err := json.Unmarshal([]byte(out), &res); err != nil {
					t.Fatalf("%s: %v", out, err)
				}
				if res.Out != path || res.Format != format || res.Kind != kind {
					t.Errorf("result %+v", res)
				}
				decodePlotFile(t, path, format, 640, 360)
				// The counts per bin sum to the tokens or features.
				wantN := map[string][]int{"features_per_token": {stats.Summary.Tokens, stats.Summary.RandomTokens}}[kind]
				if kind == "density" {
					wantN = nil
				} else if wantN == nil {
					wantN = []int{stats.DSae, stats.DSae}
				}
				for i, want := range wantN {
					sum := 0
					for _, c := range res.Series[i].Counts {
						sum += c
					}
					if sum != want || res.Series[i].N != want {
						t.Errorf("%s %s: counts sum to %d (n %d), want %d", kind, res.Series[i].Name, sum, res.Series[i].N, want)
					}
				}
			}
		}
	})

	t.Run("options and csv", func(t *testing.T) {
		path := filepath.Join(dir, "fpt.png")
		csvPath := filepath.Join(dir, "fpt.csv")
		out, errs, code := runCLI(t, "plot", "--store", st, "--kind", "features_per_token", "--threshold", "0.5", "--bins", "20",
			"--lo", "0", "--hi", "100", "--log", "--counts", "--out", path, "--csv", csvPath)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var res plotResult
		json.Unmarshal([]byte(out), &res)
		if len(res.Edges) != 21 || res.Edges[0] != 0 || res.Edges[20] != 100 {
			t.Errorf("edges %v", res.Edges)
		}
		decodePlotFile(t, path, "png", 900, 500)
		f, err := os.Open(csvPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil || len(rows) != 21 || rows[0][2] != "learnt_count" {
			t.Fatalf("csv: %v %d rows %v", err, len(rows), rows[0])
		}
		sum := 0
		for _, r := range rows[1:] {
			n, _ := strconv.Atoi(r[2])
			sum += n
		}
		if sum != stats.Summary.Tokens {
			t.Errorf("csv learnt counts sum to %d, want %d", sum, stats.Summary.Tokens)
		}
		// Several features overlaid.
		path = filepath.Join(dir, "compare.svg")
		out, errs, code = runCLI(t, "plot", "--store", st, "--kind", "density", "--feature", "1, 2,40", "--out", path)
		if code != 0 {
			t.Fatalf("compare: exit %d: %s", code, errs)
		}
		json.Unmarshal([]byte(out), &res)
		if len(res.Series) != 3 || res.Series[2].Name != "feature_40" {
			t.Errorf("compare series %+v", res.Series)
		}
		decodePlotFile(t, path, "svg", 0, 0)
	})

	t.Run("feature density", func(t *testing.T) {
		// --logx: log10 of each live feature's frequency, the others noted
		path := filepath.Join(dir, "density.png")
		csvPath := filepath.Join(dir, "density.csv")
		out, errs, code := runCLI(t, "plot", "--store", st, "--kind", "frequency", "--logx", "--out", path, "--csv", csvPath)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var res plotResult
		json.Unmarshal([]byte(out), &res)
		s, err := store.Open(st)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		live := 0
		for _, fs := range s.AllStats() {
			if fs.Frequency > 0 {
				live++
			}
		}
		if len(res.Series) != 2 || res.Series[0].N != live || res.Edges[len(res.Edges)-1] > 0 {
			t.Errorf("learnt %d features drawn (live %d), edges %v", res.Series[0].N, live, res.Edges)
		}
		if live < stats.DSae && !strings.Contains(res.Note, "never fire") {
			t.Errorf("%d dead features, note %q", stats.DSae-live, res.Note)
		}
		data, err := os.ReadFile(csvPath)
		if err != nil || !strings.HasPrefix(string(data), "log10_bin_lo,log10_bin_hi,") {
			t.Errorf("csv %.40q, %v", data, err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		cases := []struct {
			args []string
			want string
		}{
			{[]string{"--kind", "bogus", "--out", "x.png"}, `unknown plot kind "bogus"`},
			{[]string{"--out", "x.png"}, "--kind is required"},
			{[]string{"--kind", "mean"}, "--out FILE is required"},
			{[]string{"--kind", "mean", "--out", filepath.Join(dir, "x.gif")}, "cannot export a plot as .gif"},
			{[]string{"--kind", "mean", "--out", filepath.Join(dir, "x")}, "no extension"},
			{[]string{"--kind", "mean", "--out", filepath.Join(dir, "no", "such", "dir", "x.png")}, "writing the plot"},
			{[]string{"--kind", "density", "--feature", "99999", "--out", filepath.Join(dir, "x.png")}, "feature 99999 out of range"},
			{[]string{"--kind", "density", "--feature", "-1", "--out", filepath.Join(dir, "x.png")}, "feature -1 out of range"},
			{[]string{"--kind", "density", "--feature", "two", "--out", "x.png"}, `"two" is not a feature id`},
			{[]string{"--kind", "density", "--out", "x.png"}, "needs --feature"},
			{[]string{"--kind", "mean", "--feature", "3", "--out", "x.png"}, "--feature applies to --kind density only"},
			{[]string{"--kind", "density", "--feature", "3", "--logx", "--out", "x.png"}, "--logx applies to the learnt-vs-random kinds"},
			{[]string{"--kind", "mean", "--lo", "2", "--hi", "1", "--out", "x.png"}, "is after its end"},
			{[]string{"--kind", "mean", "--bins", "-3", "--out", "x.png"}, "bins must be"},
			{[]string{"--kind", "mean", "--width", "0", "--out", "x.png"}, "--width and --height"},
			{[]string{"--kind", "mean", "--out", filepath.Join(dir, "x.png"), "--csv", filepath.Join(dir, "no", "x.csv")}, "writing the CSV"},
		}
		for _, c := range cases {
			args := append([]string{"plot", "--store", st}, c.args...)
			out, errs, code := runCLI(t, args...)
			if code == 0 || !strings.Contains(errs, c.want) {
				t.Errorf("%v: exit %d, stderr %q (want %q), stdout %q", c.args, code, errs, c.want, out)
			}
		}
		if _, errs, code := runCLI(t, "plot", "--kind", "mean", "--out", "x.png"); code == 0 || !strings.Contains(errs, "--store FILE is required") {
			t.Errorf("no store: %d %q", code, errs)
		}
		if _, errs, code := runCLI(t, "plot", "--store", filepath.Join(dir, "missing.saestore"), "--kind", "mean", "--out", filepath.Join(dir, "m.png")); code == 0 || errs == "" {
			t.Errorf("missing store: %d %q", code, errs)
		}
		if _, err := os.Stat(filepath.Join(dir, "x.gif")); err == nil {
			t.Error("a .gif was written")
		}
	})

	t.Run("headless process", func(t *testing.T) {
		// The command in its own process with no display to connect to.
		path := filepath.Join(dir, "headless.png")
		cmd := exec.Command(os.Args[0], "-test.run=^TestPlotChild$")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "DISPLAY=") && !strings.HasPrefix(kv, "WAYLAND_DISPLAY=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "SAESCOPE_PLOT_CHILD="+strings.Join([]string{"plot", "--store", st, "--kind", "features_per_token", "--out", path}, "\x1f"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v: %s", err, out)
		}
		decodePlotFile(t, path, "png", 900, 500)
	})
}

// TestPlotChild runs the command line in $SAESCOPE_PLOT_CHILD (arguments
// separated by U+001F) for TestPlotCommand's headless process.
func TestPlotChild(t *testing.T) {
	args := os.Getenv("SAESCOPE_PLOT_CHILD")
	if args == "" {
		t.Skip("child process of TestPlotCommand")
	}
	var out, errb bytes.Buffer
	code := run(strings.Split(args, "\x1f"), &out, &errb)
	os.Stderr.Write(errb.Bytes())
	os.Exit(code)
}
