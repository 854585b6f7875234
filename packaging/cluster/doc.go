// Package cluster holds no code: its folder has the files that run a
// sharded scan (analyze --shard I/N, then merge) on a cluster — a
// Kubernetes Indexed Job and its merge Job, a Slurm array script, and the
// container image's recipe — and its tests lint them without kubectl or
// Slurm: the manifests parsed strictly against the fields they use and
// checked for what an Indexed Job needs, the script checked by bash -n
// (and shellcheck when installed), and both dry-run end to end on the
// fixtures' tiny model with the binary built from this checkout.
package cluster
