package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/saescope/saescope/weights/catalog"
	"github.com/saescope/saescope/weights/hub"
)

// runFetch is `saescope fetch NAME...` and `saescope fetch --list`.
func runFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("fetch", stderr)
	list := fs.Bool("list", false, "print the catalogue with sizes and what is already on disk, instead of fetching")
	remote := fs.Bool("remote", false, "with --list: ask the hub for the exact sizes (one request per repository)")
	text := fs.Bool("text", false, "with --list: a table instead of JSON")
	offline := fs.Bool("offline", false, "use only the local cache (as HF_HUB_OFFLINE=1)")
	cache := fs.String("cache", "", "hub cache folder (default: $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: saescope fetch [flags] NAME [NAME...]   get models, SAEs and the corpus into the Hugging Face cache")
		fmt.Fprintln(stderr, "       saescope fetch --list [--remote] [--text]")
		fmt.Fprintln(stderr, "Prints the local paths as JSON; progress goes to stderr. Names: see --list.")
		fs.PrintDefaults()
	}
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	set := setFlags(fs)
	if *list {
		if err := refuseFlags(set, "--list prints no progress", "quiet"); err != nil {
			return err
		}
		if !*remote {
			if err := refuseFlags(set, "--list reads only the local cache unless --remote asks the hub", "offline"); err != nil {
				return err
			}
		}
	} else if err := refuseFlags(set, "it shapes the output of --list", "remote", "text"); err != nil {
		return err
	}
	c, err := hub.NewClientFromEnv()
	if err != nil {
		return err
	}
	if *cache != "" {
		c.CacheDir = *cache
	}
	if *offline {
		c.Offline = true
	}
	if *list {
		if len(names) > 0 {
			return errors.New("--list takes no names")
		}
		return listCatalogue(ctx, c, *remote, *text, stdout)
	}
	if len(names) == 0 {
		fs.Usage()
		return errors.New("give at least one NAME (saescope fetch --list shows them)")
	}
	var entries []*catalog.Entry
	for _, n := range names {
		e, ok := catalog.Lookup(n)
		if !ok {
			return fmt.Errorf("no catalogue entry %q (saescope fetch --list shows them)", n)
		}
		entries = append(entries, e)
	}
	type fetched struct {
		Name string       `json:"name"`
		Kind catalog.Kind `json:"kind"`
		Path string       `json:"path"`
		Hook string       `json:"hook,omitempty"`
	}
	type failed struct {
		Name  string `json:"name"`
		Error string `json:"error"`
	}
	out := struct {
		Fetched     []fetched `json:"fetched"`
		Failed      []failed  `json:"failed,omitempty"`
		Interrupted string    `json:"interrupted,omitempty"`
	}{Fetched: []fetched{}}
	anyOffline := false
	var damaged []string
	for _, e := range entries {
		var pr func(catalog.Progress)
		if !*quiet {
			pr = progressPrinter(stderr)
		}
		p, err := e.Fetch(ctx, c, pr)
		if err != nil {
			if ctx.Err() != nil {
				// what was fetched before stays reported
				out.Interrupted = e.Name
				if werr := writeJSON(stdout, out); werr != nil {
					return werr
				}
				return fmt.Errorf("%s: interrupted; run again to resume", e.Name)
			}
			if !*quiet {
				fmt.Fprintln(stderr, err) // it starts with the entry's name
			}
			out.Failed = append(out.Failed, failed{e.Name, err.Error()})
			if errors.Is(err, hub.ErrDamaged) {
				damaged = append(damaged, e.Name)
			} else {
				anyOffline = anyOffline || errors.Is(err, hub.ErrOffline)
			}
			continue
		}
		out.Fetched = append(out.Fetched, fetched{e.Name, e.Kind, p, e.Hook})
	}
	if err := writeJSON(stdout, out); err != nil {
		return err
	}
	if len(out.Failed) > 0 {
		msg := fmt.Sprintf("%d of %d could not be fetched", len(out.Failed), len(entries))
		if len(damaged) > 0 {
			// damaged files do not keep working: say how to replace them
			msg += fmt.Sprintf("; the cache holds damaged files of %s: run 'saescope fetch %s' with the network on to download them again",
				strings.Join(damaged, ", "), strings.Join(damaged, " "))
		} else if anyOffline {
			msg += " (offline: everything already on disk keeps working)"
		}
		return errors.New(msg)
	}
	return nil
}

// parseInterspersed parses flags that may come before or after the names.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var names []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return names, nil
		}
		if rest[0] == "--" {
			return append(names, rest[1:]...), nil
		}
		names = append(names, rest[0])
		args = rest[1:]
	}
}

type listed struct {
	Name          string       `json:"name"`
	Kind          catalog.Kind `json:"kind"`
	Title         string       `json:"title"`
	Repo          string       `json:"repo"`
	Revision      string       `json:"revision"`
	Hook          string       `json:"hook,omitempty"`
	HookOut       string       `json:"hook_out,omitempty"`
	DSae          int          `json:"d_sae,omitempty"`
	Release       string       `json:"release,omitempty"`
	Family        string       `json:"family,omitempty"`
	NoBOS         bool         `json:"no_bos,omitempty"`
	ContextSize   int          `json:"context_size,omitempty"`
	NeuronpediaID string       `json:"neuronpedia_id,omitempty"`
	Note          string       `json:"note,omitempty"`
	Size          int64        `json:"size,omitempty"`
	SizeExact     bool         `json:"size_exact"`
	SizeText      string       `json:"size_text"`
	RemoteSize    *int64       `json:"remote_size,omitempty"`
	RemoteMissing []string     `json:"remote_missing,omitempty"`
	Status        string       `json:"status"`
	Path          string       `json:"path,omitempty"`
	Missing       []string     `json:"missing,omitempty"`
	PartialBytes  int64        `json:"partial_bytes,omitempty"`
	Problems      []string     `json:"problems,omitempty"`
}

func listCatalogue(ctx context.Context, c *hub.Client, remote, text bool, stdout io.Writer) error {
	entries := catalog.All()
	var infos map[string]catalog.Remote
	var remoteErr error
	if remote {
		infos, remoteErr = catalog.RemoteInfos(ctx, c, entries)
	}
	var rows []listed
	for _, e := range entries {
		st := e.Status(c)
		r := listed{Name: e.Name, Kind: e.Kind, Title: e.Title, Repo: e.Repo.String(), Revision: e.Revision, Hook: e.Hook, DSae: e.DSae,
			HookOut: e.HookOut, Release: e.Release, Family: e.Family, NoBOS: e.NoBOS, ContextSize: e.ContextSize,
			NeuronpediaID: e.NeuronpediaID, Note: e.Note,
			Size: e.KnownSize, SizeExact: e.SizeExact, SizeText: e.SizeText(), Status: string(st.State), Path: st.Path,
			Missing: st.Missing, PartialBytes: st.PartialBytes, Problems: st.Problems}
		if st.State == catalog.Ready {
			r.Missing = nil
		}
		if info, ok := infos[e.Name]; ok {
			size := info.Size
			r.RemoteSize, r.RemoteMissing = &size, info.Missing
			if len(info.Missing) == 0 && size > 0 {
				r.SizeText = catalog.FormatBytes(size)
			}
		}
		rows = append(rows, r)
	}
	if text {
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tKIND\tSIZE\tSTATUS\tDESCRIPTION")
		for _, r := range rows {
			status := r.Status
			if r.Status == string(catalog.Ready) {
				status = "on disk"
			} else if len(r.Problems) > 0 {
				status = "damaged (fetch it again)"
			} else if r.PartialBytes > 0 {
				status = fmt.Sprintf("partial (%s, resumable)", catalog.FormatBytes(r.PartialBytes))
			}
			title := r.Title
			if r.Note != "" {
				title += " (note: " + r.Note + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Kind, r.SizeText, status, title)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, r := range rows {
			for _, p := range r.Problems {
				fmt.Fprintf(stdout, "%s: damaged: %s\n", r.Name, p)
			}
		}
	} else {
		res := map[string]any{"cache": c.CacheDir, "offline": c.Offline, "entries": rows}
		if remoteErr != nil {
			res["remote_error"] = remoteErr.Error()
		}
		if err := writeJSON(stdout, res); err != nil {
			return err
		}
	}
	if remoteErr != nil && text {
		return fmt.Errorf("sizes from the hub: %w", remoteErr)
	}
	return nil
}

// progressPrinter writes a progress line about once a second (rewritten
// in place on a terminal) and one when each entry is done.
func progressPrinter(w io.Writer) func(catalog.Progress) {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	var last time.Time
	lastFile := -1
	return func(p catalog.Progress) {
		now := time.Now()
		if !p.Finished && p.FileIndex == lastFile && now.Sub(last) < time.Second {
			return
		}
		last, lastFile = now, p.FileIndex
		var sb strings.Builder
		if p.Finished {
			fmt.Fprintf(&sb, "%s: done, %s", p.Entry, catalog.FormatBytes(p.AllDone))
		} else {
			fmt.Fprintf(&sb, "%s: %s (%d/%d) %s", p.Entry, p.File, p.FileIndex+1, p.Files, catalog.FormatBytes(p.Done))
			if p.Total >= 0 {
				fmt.Fprintf(&sb, " / %s", catalog.FormatBytes(p.Total))
			}
			if p.AllTotal > 0 {
				fmt.Fprintf(&sb, ", %d%% of %s", p.AllDone*100/p.AllTotal, catalog.FormatBytes(p.AllTotal))
			}
			if p.BytesPerS > 0 {
				fmt.Fprintf(&sb, ", %s/s", catalog.FormatBytes(int64(p.BytesPerS)))
			}
			if p.ETA > 0 {
				fmt.Fprintf(&sb, ", %s left", p.ETA.Round(time.Second))
			}
		}
		if tty {
			fmt.Fprintf(w, "\r\x1b[K%s", sb.String())
			if p.Finished {
				fmt.Fprintln(w)
			}
		} else {
			fmt.Fprintln(w, sb.String())
		}
	}
}
