package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/weights/tokenrows/tokenrowstest"
)

// auditBaseline is one way to run a command in the flag audit: args that
// succeed (the words "{dir}" and "{fix}" stand for a fresh folder of its
// own and the audit's shared fixtures), and the flags that the probe skips
// in this baseline, each with the reason (checked elsewhere, or
// meaningless here by design).
type auditBaseline struct {
	args []string
	// prep, when not nil, fills the run's folder before each run.
	prep func(t *testing.T, dir string)
	// cacheInDir points the user cache folder (where analyze writes
	// stores without --out) into the run's folder.
	cacheInDir bool
	skip       map[string]string
}

// auditSkipCommand are commands whose flags are not probed by running
// them, with the reason.
var auditSkipCommand = map[string]string{
	"bench": "runs full-size GPT-2 small (seconds to minutes a run); TestBenchFlagModes checks that each mode refuses the flags it does not use",
}

// TestEveryFlagIsRead walks every command of commands() and every flag its
// flag set registers (read from the command's own -h listing, so a flag
// added later is audited without touching this test), and fails on a flag
// the command parses but ignores.
//
// How it decides that a flag is read: each command has one or more
// baselines (auditBaselines), invocations that succeed on the fixtures'
// tiny model; a baseline is run twice and must give the same observation
// (exit code, stdout and stderr with timings, temporary paths and digits in
// progress lines normalised, and a digest of every file it writes,
// analysis stores by their contents), so a difference below cannot come
// from noise. Then, for every flag, the baseline is run again with that
// flag set to a probe value distinct from its default and from the
// baseline's (probeValue: a nonsense string for string flags, 3 for
// integers, 0.37 for floats, 7 for unsigned, the opposite for booleans,
// overridden where that value would not show an effect that a use must
// show: an invalid value of a flag whose valid values only change speed,
// say). A flag is read when the observation changes: other output, another
// file, or an error. A flag that a command ignores leaves every byte the
// same and fails the test, naming the command, the baseline and the flag.
// Baselines exist per mode (analyze on a corpus, on --tokens, on
// --tokens-file; steer with and without generation, …) because a flag
// that is used in one mode may be ignored in another: there the command
// must refuse it. A command without a baseline fails the test, so a new
// command joins the audit.
func TestEveryFlagIsRead(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every command once per flag")
	}
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_HUB_OFFLINE", "1")
	t.Setenv("HF_TOKEN", "")
	fix := auditFixtures(t)
	baselines := auditBaselines(fix)
	names := make([]string, 0)
	for n := range commands() {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, cmd := range names {
		flags := commandFlags(t, cmd)
		if len(flags) == 0 {
			continue
		}
		if why, ok := auditSkipCommand[cmd]; ok {
			t.Logf("%s: not probed: %s", cmd, why)
			continue
		}
		bs, ok := baselines[cmd]
		if !ok {
			t.Errorf("%s: no baseline in auditBaselines: every command with flags is audited", cmd)
			continue
		}
		for bi, b := range bs {
			t.Run(fmt.Sprintf("%s/%d", cmd, bi), func(t *testing.T) {
				auditOne(t, cmd, b, flags, fix)
			})
		}
	}
}

// auditOne probes every flag of cmd against baseline b.
func auditOne(t *testing.T, cmd string, b auditBaseline, flags []auditFlag, fix string) {
	base := observe(t, b, nil, fix)
	if base.code != 0 {
		t.Fatalf("baseline %v fails: exit %d: %s", b.args, base.code, base.stderr)
	}
	if again := observe(t, b, nil, fix); again.String() != base.String() {
		t.Fatalf("baseline %v is not reproducible:\n%s\n---\n%s", b.args, base, again)
	}
	for _, f := range flags {
		if why, ok := b.skip[f.name]; ok {
			t.Logf("--%s skipped: %s", f.name, why)
			continue
		}
		v := probeValue(cmd, f, b.args)
		o := observe(t, b, &probe{f.name, v, f.typ == ""}, fix)
		if o.String() == base.String() {
			t.Errorf("%s %v: --%s=%s is parsed and ignored (the same output, files and exit code as without it)", cmd, b.args, f.name, v)
		}
	}
}

// auditFlag is a flag of a command's -h listing; typ is "" for a boolean,
// whose default is on when on is true.
type auditFlag struct {
	name, typ string
	on        bool
}

var usageLine = regexp.MustCompile(`^  -([A-Za-z0-9][A-Za-z0-9_-]*)(?: ([^\s]+))?`)

// commandFlags reads the flags of cmd from its -h listing.
func commandFlags(t *testing.T, cmd string) []auditFlag {
	t.Helper()
	var out, errb bytes.Buffer
	run([]string{cmd, "-h"}, &out, &errb)
	var flags []auditFlag
	for _, line := range strings.Split(errb.String(), "\n") {
		if m := usageLine.FindStringSubmatch(line); m != nil {
			flags = append(flags, auditFlag{name: m[1], typ: m[2]})
		} else if len(flags) > 0 && strings.HasSuffix(line, "(default true)") {
			flags[len(flags)-1].on = true
		}
	}
	return flags
}

// probe is one flag set on top of a baseline.
type probe struct {
	name, value string
	bool        bool
}

// probeValue is the value --name is probed with in a baseline.
func probeValue(cmd string, f auditFlag, base []string) string {
	if v, ok := probeOverrides[cmd+" --"+f.name]; ok {
		return v
	}
	if v, ok := probeOverrides["--"+f.name]; ok {
		return v
	}
	switch f.typ {
	case "":
		on := f.on // the opposite of what the baseline has
		for _, a := range base {
			switch a {
			case "--" + f.name, "--" + f.name + "=true":
				on = true
			case "--" + f.name + "=false":
				on = false
			}
		}
		return fmt.Sprint(!on)
	case "int":
		return "3"
	case "uint":
		return "7"
	case "float":
		return "0.37"
	}
	return "zz-probe"
}

// probeOverrides are the probe values of flags whose generic probe would
// not show a use: a valid value of a speed-only flag changes nothing
// visible, so an invalid one is given (an error shows the value is read);
// paths point into the run's folder.
var probeOverrides = map[string]string{
	"--out":                   "{dir}/other.saestore",
	"plot --out":              "{dir}/other.png",
	"--csv":                   "{dir}/probe.csv",
	"--cache":                 "{dir}/other-cache",
	"--text":                  "Another text, not the baseline's.",
	"--tokens":                "50256,818,16450,11",
	"--tokens-file":           "{fix}/rows.json",
	"--batch":                 "0",
	"--corpus":                "{fix}/corpus.txt",
	"--clean":                 "50256,818,16450",
	"--corrupt":               "50256,818,2068",
	"--clean-text":            "A cat",
	"--corrupt-text":          "A dog",
	"--metric":                "818,2068",
	"--feature":               "3",
	"--from":                  "3",
	"--to":                    "4",
	"--width":                 "300",
	"--height":                "200",
	"--lo":                    "0.37",
	"--hi":                    "5",
	"train-model --val-every": "1", // progress lines are compared with their digits masked: one more line shows
	"steer --pos":             "1",
	"elicit --pos":            "1",
	"--add":                   "0.5",
	"--clamp":                 "0.5",
	"--rows":                  "1",
	"--k":                     "3",
	"--baseline-stride":       "2",
	"--baseline-seed":         "7",
	"--generate":              "3",
	"--top":                   "3",
	"--threshold":             "0.37",
	"--bins":                  "7",
	"--temperature":           "0.8",
	"--top-p":                 "0.5",
	"--recon-rows":            "3",
	"--hook":                  "blocks.1.hook_mlp_out",
	"--blas":                  "zz-probe",
	"--backend":               "zz-probe",
	"--model":                 "{fix}/no-model",
	"--sae":                   "{fix}/no-sae.pt",
	"--store":                 "{fix}/no.saestore",
	"--metric-text":           "zz-probe",
	"--metric-feature":        "3",
	"--target":                "3",
	"analyze --seed":          "7",
	"--prefix":                "3",
	"--suffix":                "3",
	"--d-sae":                 "0",
	"--cpuprofile":            "{dir}/cpu.prof",
	"--kind":                  "zz-probe",
	"--by":                    "zz-probe",
}

// auditObservation is what a run shows.
type auditObservation struct {
	code           int
	stdout, stderr string
	files          []string
}

func (o auditObservation) String() string {
	return fmt.Sprintf("exit %d\nstdout %s\nstderr %s\nfiles %v", o.code, o.stdout, o.stderr, o.files)
}

// observe runs baseline b (with p set, when not nil) in a fresh folder.
func observe(t *testing.T, b auditBaseline, p *probe, fix string) auditObservation {
	t.Helper()
	dir := t.TempDir()
	if b.prep != nil {
		b.prep(t, dir)
	}
	sub := func(s string) string {
		return strings.ReplaceAll(strings.ReplaceAll(s, "{dir}", dir), "{fix}", fix)
	}
	var args []string
	replaced := false
	for i := 0; i < len(b.args); i++ {
		a := b.args[i]
		if p != nil && (a == "--"+p.name || strings.HasPrefix(a, "--"+p.name+"=")) {
			replaced = true
			if p.bool || strings.Contains(a, "=") {
				args = append(args, "--"+p.name+"="+sub(p.value))
				continue
			}
			args = append(args, a, sub(p.value))
			i++
			continue
		}
		args = append(args, sub(a))
	}
	if p != nil && !replaced {
		args = append(args, "--"+p.name+"="+sub(p.value))
	}
	if b.cacheInDir {
		t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	}
	before := snapshot(t, dir)
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	unsub := func(s string) string {
		return strings.ReplaceAll(strings.ReplaceAll(s, dir, "{dir}"), fix, "{fix}")
	}
	o := auditObservation{code: code, stdout: normaliseJSON(unsub(out.String())), stderr: digits.ReplaceAllString(unsub(errb.String()), "#")}
	after := snapshot(t, dir)
	for name, d := range after {
		if before[name] != d {
			o.files = append(o.files, name+" "+d)
		}
	}
	sort.Strings(o.files)
	return o
}

var digits = regexp.MustCompile(`[0-9]+`)

// volatile are the JSON keys of timings and dates, left out, and of a
// store's size in MB: it counts the store's header, whose timings take
// more or fewer digits from run to run (1.0054550 against 1.0054474 MB for
// the same analysis, seen in CI); the store itself is compared by its
// digest, timings left out (snapshot).
func volatile(k string) bool {
	return k == "created" || strings.Contains(k, "second") || strings.HasSuffix(k, "per_s") || strings.HasSuffix(k, "_ms") ||
		strings.HasSuffix(k, "per_feat_s") || k == "store_mb"
}

// normaliseJSON drops the volatile keys of every JSON value in s (one a
// line); other text is returned as it is.
func normaliseJSON(s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		var v any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			b.WriteString(line)
			continue
		}
		raw, _ := json.Marshal(dropVolatile(v))
		b.Write(raw)
		b.WriteByte('\n')
	}
	return b.String()
}

func dropVolatile(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if volatile(k) {
				delete(x, k)
				continue
			}
			x[k] = dropVolatile(e)
		}
	case []any:
		for i, e := range x {
			x[i] = dropVolatile(e)
		}
	}
	return v
}

// snapshot digests every file below dir: an analysis store by its
// contents (its header's date and timings left out), others by their bytes
// (but for the fingerprint cache, which records when it looked).
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "fingerprints.json" { // the fingerprint cache holds times
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		h := sha256.New()
		if strings.HasSuffix(p, ".saestore") {
			st, err := store.Open(p)
			if err != nil {
				fmt.Fprintf(h, "unreadable store: %v", err)
			} else {
				m := st.Meta
				m.Created, m.Sections = time.Time{}, nil
				m.Summary.ScanSeconds, m.Summary.TokensPerS, m.Summary.HostSeconds = 0, 0, 0
				fmt.Fprintf(h, "%+v %v %v %v %v %v %v", m, st.Tokens, st.Learnt, st.Random, st.TopTok, st.TopVal, st.IntTok)
				st.Close()
			}
		} else if data, err := os.ReadFile(p); err == nil {
			h.Write(data)
		}
		out[rel] = hex.EncodeToString(h.Sum(nil))[:16]
		return nil
	})
	return out
}

// auditFixtures writes the audit's shared files: a store of the tiny
// model, exact rows and a small corpus.
func auditFixtures(t *testing.T) string {
	t.Helper()
	fix := t.TempDir()
	rows := [][]int32{{50256, 464, 2068, 7586, 21831}, {50256, 818, 16450, 11, 262}, {50256, 383, 2068, 7586, 318}}
	tokenrowstest.Write(t, filepath.Join(fix, "rows.npy"), tokenrowstest.NPY(rows, "<i8", false))
	tokenrowstest.Write(t, filepath.Join(fix, "rows.json"), tokenrowstest.JSON(rows[:2]))
	text := strings.Repeat(text0+" Researchers compare sparse autoencoder features with random directions. ", 12)
	if err := os.WriteFile(filepath.Join(fix, "corpus.txt"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fix, "corpus2.txt"), []byte(strings.Repeat("Another corpus of other words entirely. ", 60)), 0o644); err != nil {
		t.Fatal(err)
	}
	var docs strings.Builder
	for i := range 40 {
		fmt.Fprintf(&docs, "{\"text\": \"%s %d\"}\n", text0, i)
	}
	if err := os.WriteFile(filepath.Join(fix, "docs.jsonl"), []byte(docs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, code := runCLI(t, "analyze", "--model", fixModel, "--sae", fixSAE0, "--corpus", filepath.Join(fix, "corpus.txt"),
		"--rows", "6", "--recon-rows", "2", "--out", filepath.Join(fix, "s.saestore"), "--quiet")
	if code != 0 {
		t.Fatalf("audit store: %s", errs)
	}
	// the store that the cached analyze baseline finds
	_, errs, code = runCLI(t, analyzeTokensArgs(filepath.Join(fix, "cached.saestore"))...)
	if code != 0 {
		t.Fatalf("audit cached store: %s", errs)
	}
	return fix
}

func analyzeTokensArgs(out string) []string {
	return []string{"analyze", "--model", fixModel, "--sae", fixSAE0, "--tokens", "50256,464,2068,7586;50256,818,16450,11",
		"--recon-rows", "1", "--out", out, "--quiet"}
}

// copyFile copies src to dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// auditBaselines are the invocations the audit probes, per command.
func auditBaselines(fix string) map[string][]auditBaseline {
	prompt := "50256,464,2068,7586,21831,625"
	notHere := func(flags ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(flags); i += 2 {
			m[flags[i]] = flags[i+1]
		}
		return m
	}
	return map[string][]auditBaseline{
		"inspect": {{args: []string{"inspect", "--model", fixModel, "--sae", fixSAE0}}},
		"acts": {
			{args: []string{"acts", "--model", fixModel, "--sae", fixSAE1, "--tokens", "50256,464,2068"}},
			{args: []string{"acts", "--model", fixModel, "--hook", "blocks.1.hook_resid_pre", "--text", "hi there"}},
		},
		"elicit": {{args: []string{"elicit", "--model", fixModel, "--sae", fixSAE0, "--text", text0}}},
		"recons": {{args: []string{"recons", "--model", fixModel, "--sae", fixSAE0, "--text", text0}}},
		"steer": {
			{args: []string{"steer", "--model", fixModel, "--sae", fixSAE0, "--feature", "158", "--add=4", "--tokens", prompt}},
			{args: []string{"steer", "--model", fixModel, "--sae", fixSAE0, "--feature", "158", "--add=4", "--tokens", prompt, "--generate", "4", "--temperature", "1.5", "--seed", "2"}},
			{args: []string{"steer", "--model", fixModel, "--sae", fixSAE0, "--feature", "158", "--add=4", "--tokens", prompt, "--generate", "4"},
				skip: notHere("greedy", "picking greedily is the default without --temperature, --greedy only says it; it is read: with --temperature (the baseline above) it is refused")},
		},
		"patch": {
			{args: []string{"patch", "--model", fixModel, "--sae", fixSAE0, "--clean", "50256,464,2068", "--corrupt", "50256,464,7586", "--metric", "2068,7586"}},
			{args: []string{"patch", "--model", fixModel, "--sae", fixSAE0, "--clean", "50256,464,2068", "--corrupt", "50256,464,7586", "--metric-feature", "17"}},
		},
		"attribute": {
			{args: []string{"attribute", "--model", fixModel, "--sae", fixSAE0, "--tokens", "50256,464,2068,7586", "--metric", "2068,7586"}},
			{args: []string{"attribute", "--model", fixModel, "--sae", fixSAE0, "--tokens", "50256,464,2068,7586", "--target", "17"}},
			{args: []string{"attribute", "--model", fixModel, "--sae", fixSAE0, "--tokens", "50256,464,2068,7586", "--metric", "loss", "--exact"}},
			{args: []string{"attribute", "--model", fixModel, "--sae", fixSAE1, "--sae", fixSAE0, "--tokens", "50256,464,2068,7586", "--metric", "2068,7586", "--graph"}},
			{args: []string{"attribute", "--model", fixModel, "--sae", fixSAE1, "--sae", fixSAE0, "--tokens", "50256,464,2068,7586", "--target", "17", "--flow"}},
		},
		"analyze": {
			// a corpus, scanned afresh
			{args: []string{"analyze", "--model", fixModel, "--sae", fixSAE0, "--corpus", "{fix}/corpus.txt", "--rows", "4", "--recon-rows", "1", "--out", "{dir}/s.saestore"},
				skip: notHere("force", "nothing to scan again in a fresh folder: probed on the cached baseline", "corpus", "probed with another corpus below")},
			{args: []string{"analyze", "--model", fixModel, "--sae", fixSAE0, "--corpus", "{fix}/corpus2.txt", "--rows", "4", "--recon-rows", "1", "--out", "{dir}/s.saestore"},
				skip: notHere("force", "nothing to scan again in a fresh folder: probed on the cached baseline")},
			// exact rows, on the command line and from a file
			{args: []string{"analyze", "--model", fixModel, "--sae", fixSAE0, "--tokens", "50256,464,2068,7586;50256,818,16450,11", "--recon-rows", "1", "--out", "{dir}/s.saestore"},
				skip: notHere("force", "nothing to scan again in a fresh folder: probed on the cached baseline")},
			{args: []string{"analyze", "--model", fixModel, "--sae", fixSAE0, "--tokens-file", "{fix}/rows.npy", "--recon-rows", "1", "--out", "{dir}/s.saestore"},
				skip: notHere("force", "nothing to scan again in a fresh folder: probed on the cached baseline")},
			// several SAEs in one pass, into the cache folder
			{args: []string{"analyze", "--model", fixModel, "--sae", fixSAE0, "--sae", fixSAE1, "--tokens", "50256,464,2068,7586;50256,818,16450,11", "--recon-rows", "1"},
				cacheInDir: true, skip: notHere("force", "nothing to scan again in a fresh folder: probed on the cached baseline")},
			// one shard of the rows
			{args: []string{"analyze", "--model", fixModel, "--sae", fixSAE0, "--tokens", "50256,464,2068,7586;50256,818,16450,11", "--batch", "1", "--baseline-stride", "1", "--recon-rows", "1", "--shard", "0/2", "--out", "{dir}/s.saestore"},
				skip: notHere("force", "nothing to scan again in a fresh folder: probed on the cached baseline")},
			// a finished store found again
			{args: analyzeTokensArgs("{dir}/s.saestore"), prep: func(t *testing.T, dir string) {
				copyFile(t, filepath.Join(fix, "cached.saestore"), filepath.Join(dir, "s.saestore"))
			}},
		},
		"rank": {{args: []string{"rank", "--store", "{fix}/s.saestore"}}},
		"merge": {{args: []string{"merge", "--out", "{dir}/m.saestore", "{dir}/s0.saestore", "{dir}/s1.saestore"}, prep: func(t *testing.T, dir string) {
			for i := range 2 {
				_, errs, code := runCLI(t, "analyze", "--model", fixModel, "--sae", fixSAE0, "--tokens", "50256,464,2068,7586;50256,818,16450,11",
					"--batch", "1", "--baseline-stride", "1", "--recon-rows", "1", "--shard", fmt.Sprintf("%d/2", i), "--out", filepath.Join(dir, fmt.Sprintf("s%d.saestore", i)), "--quiet")
				if code != 0 {
					t.Fatalf("shard %d: %s", i, errs)
				}
			}
		}}},
		"train-model": {
			{args: []string{"train-model", "--layers", "1", "--d-model", "8", "--heads", "2", "--ctx", "16", "--steps", "4", "--batch", "2",
				"--warmup", "1", "--val-every", "2", "--corpus", "{fix}/docs.jsonl", "--out", "{dir}/m", "--blas", "gonum"},
				skip: notHere("force", "nothing to replace in a fresh folder: probed with a model there below")},
			// a model already in --out: replaced with --force, refused without
			{args: []string{"train-model", "--layers", "1", "--d-model", "8", "--heads", "2", "--ctx", "16", "--steps", "4", "--batch", "2",
				"--warmup", "1", "--val-every", "2", "--corpus", "{fix}/docs.jsonl", "--out", "{dir}/m", "--force", "--blas", "gonum"}, prep: func(t *testing.T, dir string) {
				if err := os.MkdirAll(filepath.Join(dir, "m"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "m", "config.json"), []byte("{}"), 0o644); err != nil {
					t.Fatal(err)
				}
			}},
		},
		"contexts": {{args: []string{"contexts", "--store", "{fix}/s.saestore", "--feature", "17"}}, {args: []string{"contexts", "--store", "{fix}/s.saestore", "--feature", "17", "--intervals"}}},
		"stats": {
			{args: []string{"stats", "--store", "{fix}/s.saestore", "--kind", "features_per_token"}},
			{args: []string{"stats", "--store", "{fix}/s.saestore", "--kind", "mean"}},
			{args: []string{"stats", "--store", "{fix}/s.saestore"}},
		},
		"plot": {
			{args: []string{"plot", "--store", "{fix}/s.saestore", "--kind", "features_per_token", "--out", "{dir}/p.svg"}},
			{args: []string{"plot", "--store", "{fix}/s.saestore", "--kind", "density", "--feature", "17", "--out", "{dir}/p.svg"}},
			{args: []string{"plot", "--store", "{fix}/s.saestore", "--kind", "frequency", "--out", "{dir}/p.svg"}},
		},
		"fetch": {
			{args: []string{"fetch", "--list", "--cache", "{dir}/hub"}},
		},
	}
}
