package catalog

import (
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/saescope/saescope/weights/hub"
)

// NeuronpediaBase is the address of Neuronpedia's feature pages.
const NeuronpediaBase = "https://www.neuronpedia.org"

// NeuronpediaURL is the address of a feature's page on Neuronpedia, such
// as https://www.neuronpedia.org/gpt2-small/9-res-jb/1234 for id
// "gpt2-small/9-res-jb" and feature 1234. It is "" when id is empty or
// not of the model/source form, or feature is negative.
func NeuronpediaURL(id string, feature int) string {
	model, source, ok := strings.Cut(strings.TrimSpace(id), "/")
	if !ok || model == "" || source == "" || strings.Contains(source, "/") || feature < 0 {
		return ""
	}
	return NeuronpediaBase + "/" + url.PathEscape(model) + "/" + url.PathEscape(source) + "/" + strconv.Itoa(feature)
}

// NeuronpediaURL is the address of one of the entry's features on
// Neuronpedia, "" when Neuronpedia does not host the entry.
func (e *Entry) NeuronpediaURL(feature int) string {
	return NeuronpediaURL(e.NeuronpediaID, feature)
}

// ForPath finds the SAE entry whose files p is, as Fetch and Status give
// it: <cache>/models--ORG--NAME/snapshots/<commit>/<Target> for any commit
// (or a copy under one of the entry's AltRepos). Nothing is read from
// disk; a path outside the hub cache's layout matches nothing.
func ForPath(p string) (*Entry, bool) {
	if p == "" {
		return nil, false
	}
	p = filepath.ToSlash(filepath.Clean(p))
	for _, e := range All() {
		if e.Kind != KindSAE {
			continue
		}
		for _, repo := range append([]hub.Repo{e.Repo}, e.AltRepos...) {
			marker := "/" + repo.FolderName() + "/snapshots/"
			i := strings.LastIndex(p, marker)
			if i < 0 {
				continue
			}
			commit, target, ok := strings.Cut(p[i+len(marker):], "/")
			if ok && commit != "" && target == e.Target {
				return e, true
			}
		}
	}
	return nil, false
}

// NeuronpediaIDForPath is the Neuronpedia id of the catalogue's SAE at
// path p (see ForPath), "" when p is no catalogue SAE or Neuronpedia does
// not host it.
func NeuronpediaIDForPath(p string) string {
	if e, ok := ForPath(p); ok {
		return e.NeuronpediaID
	}
	return ""
}
