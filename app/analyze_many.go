package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/saescope/saescope/compute/analysis"
	"github.com/saescope/saescope/compute/encoder"
	"github.com/saescope/saescope/compute/store"
	"github.com/saescope/saescope/weights"
	"github.com/saescope/saescope/weights/corpus"
	"github.com/saescope/saescope/weights/sae"
)

// repeated is a string flag of engineFlags made repeatable for analyze
// (--sae, --hook): every value in order, the first also set where the
// engine reads the flag.
type repeated struct {
	values []string
	first  *string
}

func (l *repeated) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.values, ",")
}

func (l *repeated) Set(v string) error {
	l.values = append(l.values, v)
	*l.first = l.values[0]
	return nil
}

// repeatable makes the flag name of fs, whose value the engine reads
// from first, repeatable, adding more to its usage.
func repeatable(fs *flag.FlagSet, name string, first *string, more string) *repeated {
	l := &repeated{first: first}
	f := fs.Lookup(name)
	f.Value = l
	f.Usage += more
	return l
}

// repeatableSAE makes analyze's --sae and --hook repeatable: several SAEs
// are scanned together, --hook (when given) once per --sae, in order.
func repeatableSAE(fs *flag.FlagSet, ef *engineFlags) (saes, hooks *repeated) {
	saes = repeatable(fs, "sae", ef.saePath, "; repeat --sae for several SAEs of the model, scanned together in one pass to the deepest hook (each gets its own store, the one it would get alone)")
	hooks = repeatable(fs, "hook", ef.hook, "; with several --sae, once per --sae in their order (\"\" keeps the file's hook)")
	return saes, hooks
}

// manyOptions are analyze's choices that apply to every SAE of a scan of
// several.
type manyOptions struct {
	out     string
	force   bool
	foldDec bool
	hooks   []string // --hook, once per SAE, or none
	say     func(string, ...any)
}

// manySAE is one SAE of analyze --sae A --sae B …: its store's metadata
// and path, and whether a finished store was found.
type manySAE struct {
	path  string
	s     *sae.SAE
	enc   *encoder.Encoder
	meta  store.Meta
	store string
	done  *store.Store // the finished store reused
}

// analyzeMany scans corpus c with the engine's SAE and the SAEs at
// paths[1:] in one pass (analysis.ScanMany): meta is the first SAE's
// metadata without its key, every SAE gets its copy with its own sources,
// hook and key. SAEs whose finished store is in the cache are reused
// (unless force); the others are scanned together, and every store is
// written only after all scanned, each atomically: a cancelled or failed
// scan writes none.
func analyzeMany(ctx context.Context, e *engine, paths []string, c *corpus.Corpus, meta store.Meta, opt manyOptions, stdout io.Writer) error {
	if len(opt.hooks) > 0 && len(opt.hooks) != len(paths) {
		return fmt.Errorf("%d --hook for %d --sae: with several SAEs give --hook once per --sae, in their order (\"\" keeps the file's), or not at all", len(opt.hooks), len(paths))
	}
	if opt.out != "" {
		return fmt.Errorf("--out names one store: with %d SAEs each store goes to the cache folder, keyed by its SAE", len(paths))
	}
	say := opt.say
	all := []*manySAE{{path: paths[0], s: e.sae, enc: e.enc}}
	defer func() {
		for _, m := range all[1:] {
			if m.enc != nil {
				m.enc.Close()
			}
			m.s.Close()
		}
		for _, m := range all {
			if m.done != nil {
				m.done.Close()
			}
		}
	}()
	for i, p := range paths[1:] {
		hook := ""
		if len(opt.hooks) > 0 {
			hook = opt.hooks[i+1]
		}
		s, err := loadExtraSAE(e, p, hook, opt.foldDec)
		if err != nil {
			return err
		}
		m := &manySAE{path: p, s: s}
		all = append(all, m)
		if m.enc, err = encoder.New(e.be, s); err != nil {
			return fmt.Errorf("SAE %s: %w", p, err)
		}
		if s.NoBOS != e.sae.NoBOS {
			return fmt.Errorf("SAE %s was trained %s BOS and %s %s it: they read different rows, analyse them apart",
				p, withOrWithout(s.NoBOS), paths[0], withOrWithout(e.sae.NoBOS))
		}
	}
	dir, err := analysis.CacheDir()
	if err != nil {
		return err
	}
	fp := weights.DefaultFingerprinter()
	var todo []*manySAE
	var targets []analysis.Target
	seen := map[string]string{} // store key → the --sae that has it
	for _, m := range all {
		m.meta = meta
		if m.meta.SAE.Hash, err = fp.Fingerprint(ctx, m.path); err != nil {
			return err
		}
		m.meta.SAE.Path, m.meta.Hook = m.path, m.s.Hook.String()
		m.meta.Key = analysis.Key(m.meta)
		if first, ok := seen[m.meta.Key]; ok {
			// the same weights at the same hook: one scan and one store
			return fmt.Errorf("--sae %s is given twice (as %s and %s: the same SAE at %s): give each SAE once", m.path, first, m.path, m.meta.Hook)
		}
		seen[m.meta.Key] = m.path
		m.store = analysis.StorePath(dir, m.meta.Key)
		if !opt.force {
			if st, err := analysis.OpenCached(dir, m.meta.Key); err == nil && st != nil {
				if err := st.Verify(); err == nil {
					m.done = st
					say("analyze: %s at %s already done, %s\n", m.path, m.meta.Hook, m.store)
					continue
				}
				st.Close()
				say("analyze: the store of %s is damaged; scanning again\n", m.path)
			}
		}
		todo = append(todo, m)
		targets = append(targets, analysis.Target{Enc: m.enc, Meta: m.meta})
	}
	t0 := time.Now()
	var made []*store.Store
	if len(todo) > 0 {
		hooks := make([]string, len(todo))
		for i, m := range todo {
			hooks[i] = m.meta.Hook
		}
		say("analyze: %d SAEs in one pass (%s)\n", len(todo), strings.Join(hooks, ", "))
		made, err = analysis.ScanMany(ctx, e.m, c.Rows, targets, func(i int, pr analysis.Progress) {
			switch {
			case pr.Stage != "scan":
				say("\nanalyze: %s at %s: %s", todo[i].path, todo[i].meta.Hook, pr.Stage)
			case i == 0: // every SAE advances with each batch
				say("\ranalyze: %d/%d rows, %d SAEs, %.0f tokens/s, ETA %s    ", pr.Rows, pr.TotalRows, len(todo), pr.TokensPerS, pr.ETA.Round(time.Second))
			}
		})
		say("\n")
		if err != nil {
			return err
		}
		for i, st := range made {
			st.Meta.Key = todo[i].meta.Key
			say("analyze: writing %s\n", todo[i].store)
			if err := st.Write(todo[i].store); err != nil {
				return fmt.Errorf("SAE %s: %w", todo[i].path, err)
			}
		}
		say("analyze: %d stores in %.1f s\n", len(made), time.Since(t0).Seconds())
	}
	out := make([]map[string]any, len(all))
	k := 0
	for i, m := range all {
		st := m.done
		if st == nil {
			st = made[k]
			k++
		}
		out[i] = map[string]any{"sae": m.path, "hook": m.meta.Hook, "store": m.store, "cached": m.done != nil,
			"corpus": st.Meta.Corpus.Describe(), "summary": st.Meta.Summary}
		if fi, err := os.Stat(m.store); err == nil && m.done == nil {
			out[i]["store_mb"] = float64(fi.Size()) / (1 << 20)
		}
	}
	return writeJSON(stdout, map[string]any{"stores": out})
}

// loadExtraSAE loads an SAE besides the engine's, as engineFlags.load
// does its own: at hook (the one its file says when ""), folded decoder
// norms on request, checked against the model.
func loadExtraSAE(e *engine, path, hook string, foldDec bool) (*sae.SAE, error) {
	s, err := sae.Load(path, hook)
	if err != nil {
		return nil, err
	}
	if foldDec {
		if err := s.FoldDecoderNorm(); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.Fits(e.ck.Config); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func withOrWithout(noBOS bool) string {
	if noBOS {
		return "without"
	}
	return "with"
}
