package hub

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
)

// Repository types.
const (
	TypeModel   = "model"
	TypeDataset = "dataset"
)

// Repo names a repository of the hub.
type Repo struct {
	// ID is "ORG/NAME" (or a bare "NAME" for old top-level models such as
	// "gpt2").
	ID string
	// Type is TypeModel (or "", meaning the same) or TypeDataset.
	Type string
}

// Model returns the model repository id.
func Model(id string) Repo { return Repo{ID: id, Type: TypeModel} }

// Dataset returns the dataset repository id.
func Dataset(id string) Repo { return Repo{ID: id, Type: TypeDataset} }

// String is "ORG/NAME" for a model and "datasets/ORG/NAME" for a dataset.
func (r Repo) String() string {
	return r.urlPrefix() + r.ID
}

func (r Repo) typ() string {
	if r.Type == "" {
		return TypeModel
	}
	return r.Type
}

func (r Repo) urlPrefix() string {
	if r.typ() == TypeDataset {
		return "datasets/"
	}
	return ""
}

// FolderName is the repository's folder in the cache:
// "models--ORG--NAME" or "datasets--ORG--NAME".
func (r Repo) FolderName() string {
	return strings.Join(append([]string{r.typ() + "s"}, strings.Split(r.ID, "/")...), "--")
}

func (r Repo) validate() error {
	switch r.typ() {
	case TypeModel, TypeDataset:
	default:
		return fmt.Errorf("hub: repository type %q (want model or dataset)", r.Type)
	}
	if r.ID == "" || strings.HasPrefix(r.ID, "/") || strings.HasSuffix(r.ID, "/") || strings.Count(r.ID, "/") > 1 ||
		strings.Contains(r.ID, "..") || strings.Contains(r.ID, "--") || strings.ContainsAny(r.ID, `\ `) {
		return fmt.Errorf("hub: %q is not a repository id (want ORG/NAME)", r.ID)
	}
	return nil
}

var (
	commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// IsCommit says whether rev is a full commit hash (40 lower-case hex digits).
func IsCommit(rev string) bool { return commitRE.MatchString(rev) }

// checkFilePath refuses paths that would leave the snapshot folder.
func checkFilePath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, `\`) || path.Clean(p) != p || p == "." ||
		strings.HasPrefix(p, "../") || p == ".." {
		return fmt.Errorf("hub: %q is not a file path inside a repository", p)
	}
	return nil
}

func checkRevision(rev string) error {
	if rev == "" || strings.HasPrefix(rev, "/") || strings.Contains(rev, "..") || strings.Contains(rev, `\`) {
		return fmt.Errorf("hub: %q is not a revision", rev)
	}
	return nil
}

// escapePath path-escapes each segment of a file path in a repository.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// ResolveURL is the address of a file at a revision:
// {endpoint}/[datasets/]{repo}/resolve/{revision}/{path}, the revision
// path-escaped as a whole (refs/convert/parquet becomes
// refs%2Fconvert%2Fparquet).
func (c *Client) ResolveURL(repo Repo, revision, filePath string) string {
	return fmt.Sprintf("%s/%s%s/resolve/%s/%s", c.Endpoint, repo.urlPrefix(), repo.ID, url.PathEscape(revision), escapePath(filePath))
}

// treeURL is the listing address of a revision (huggingface_hub's
// list_repo_tree).
func (c *Client) treeURL(repo Repo, revision string) string {
	return fmt.Sprintf("%s/api/%ss/%s/tree/%s?recursive=true&expand=false", c.Endpoint, repo.typ(), repo.ID, url.PathEscape(revision))
}
