// Package hub reads and writes the Hugging Face hub cache and downloads
// files from the hub into it, so that models, SAEs and corpora that Python
// tools (transformers, huggingface_hub, SAELens, datasets) already
// downloaded are found without a new download, and files that SAE Scope
// downloads are seen by those tools too.
//
// # Cache layout
//
// The cache folder (HF_HUB_CACHE, else HF_HOME/hub, else
// ~/.cache/huggingface/hub) holds one folder per repository:
//
//	models--ORG--NAME/            (datasets--ORG--NAME for a dataset)
//	    refs/main                 the commit hash that "main" pointed to (no newline)
//	    refs/refs/convert/parquet a revision with slashes nests its folders
//	    blobs/<etag>              file content, named by its ETag: the SHA-256
//	                              of an LFS file, the git blob SHA-1 of a small one
//	    blobs/<etag>.incomplete   a download in progress; a later download resumes it
//	    snapshots/<commit>/<path> a relative symbolic link to ../../blobs/<etag>
//	                              (one more ../ per folder level in <path>)
//	    .no_exist/<commit>/<path> an empty file: the hub said <path> does not exist
//
// A snapshot entry is used only when it is a link to a regular file
// directly in its repository's blobs/ (or, below, a regular file inside
// the repository's folder): one that leads outside the cache, to another
// blob than the one the hub names, to a device or a FIFO, or that is a
// FIFO itself, is never followed for reading; offline it is reported as
// damaged (ErrDamaged), online it is replaced (see CheckSnapshotEntry).
// refs/ files, config.json and the token file are read only when they are
// regular files, and only up to a small bound.
//
// Where symbolic links cannot be made (Windows without developer mode, or
// HF_HUB_DISABLE_SYMLINKS=1), the snapshot holds the file itself: a new
// blob is moved there and an existing one copied, as huggingface_hub does.
//
// # Protocol
//
// A file is resolved with HEAD {endpoint}/{repo}/resolve/{revision}/{path}
// (datasets: {endpoint}/datasets/{repo}/resolve/...; a revision with "/" is
// path-escaped, e.g. refs%2Fconvert%2Fparquet). Redirects to another host are
// not followed for the HEAD: its headers give the commit (X-Repo-Commit), the
// ETag (X-Linked-Etag for LFS files, else ETag), the size (X-Linked-Size,
// else Content-Length) and, in Location, the CDN address to GET. Relative
// redirects (a renamed repository) are followed. The token is sent as
// "Authorization: Bearer …" to the hub's own host only, never to the CDN.
// Downloads go to blobs/<etag>.incomplete, resume with a Range request,
// are verified (SHA-256 for LFS files, git blob SHA-1 for small files),
// synced and renamed into place; only then is the snapshot link made and
// refs/<revision> written. Bytes that do not match their hash never reach
// blobs/ or snapshots/.
//
// Files are listed with GET {endpoint}/api/models/{repo}/tree/{revision}
// ?recursive=true&expand=false (datasets: /api/datasets/...), following the
// Link rel="next" header for further pages.
//
// # Environment
//
// NewClientFromEnv honours HF_ENDPOINT, HF_HOME, HF_HUB_CACHE (and the
// older HUGGINGFACE_HUB_CACHE), XDG_CACHE_HOME, HF_HUB_OFFLINE (and
// TRANSFORMERS_OFFLINE), HF_TOKEN (and HUGGING_FACE_HUB_TOKEN), HF_TOKEN_PATH
// (default HF_HOME/token), HF_HUB_DISABLE_IMPLICIT_TOKEN,
// HF_HUB_DISABLE_SYMLINKS, HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT
// (a stall timeout here, 30 s by default), with the meanings
// huggingface_hub gives them. The token is never logged, printed or put in
// an error message.
//
// # Differences from huggingface_hub
//
// huggingface_hub (from mid-2026) downloads to a per-process temporary name
// and does not resume across runs; earlier versions, like this package,
// resume from blobs/<etag>.incomplete. refs/<revision> is written once the
// file is in place, not before the download as huggingface_hub does; both
// orders leave a cache either reads. This package also checks the hash of
// every file, where huggingface_hub checks only the size. Xet storage is not
// used: files are fetched over plain HTTP, which the hub serves for every
// file. Cross-process locking (.locks/<repo folder>/<etag>.lock, flock) is
// done on Unix only; on other systems concurrent downloads of one blob by
// two processes are caught by the hash check instead. No CACHEDIR.TAG is
// written at the top of the cache (recent huggingface_hub versions write
// one; older ones report it as a corrupt repository in scan_cache_dir).
package hub
