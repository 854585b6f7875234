package ui

import (
	"fmt"

	"github.com/saescope/saescope/weights/catalog"
	"github.com/saescope/saescope/weights/hub"
)

// LocalSource is a model, SAE or corpus already on disk that the
// workspace bar offers: a catalogue entry found in the Hugging Face cache,
// or another GPT-2 checkpoint there.
type LocalSource struct {
	Kind  catalog.Kind
	Label string // as listed
	Path  string // what the loader takes
}

// FindLocalSources lists what the hub cache already holds, without any
// network request (directory listings and small config files).
func FindLocalSources(c *hub.Client) []LocalSource {
	if c == nil {
		return nil
	}
	var out []LocalSource
	seen := map[string]bool{}
	for _, e := range catalog.All() {
		st := e.Status(c)
		if st.State != catalog.Ready {
			continue
		}
		out = append(out, LocalSource{Kind: e.Kind, Label: "Catalogue: " + e.Name, Path: st.Path})
		seen[st.Path] = true
	}
	for _, m := range hub.FindModels(c.CacheDir) {
		if m.Weights == "" || seen[m.Dir] {
			continue
		}
		commit := m.Commit
		if len(commit) > 7 {
			commit = commit[:7]
		}
		out = append(out, LocalSource{Kind: catalog.KindModel, Label: fmt.Sprintf("HF cache: %s (%s)", m.Repo.ID, commit), Path: m.Dir})
	}
	return out
}
