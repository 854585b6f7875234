#!/usr/bin/env bash
# Rebuilds the demo workspace in assets/demo from the corpus shipped with the
# app (assets/corpus), with fixed seeds: a tiny GPT-2 trained from scratch by
# `saescope train-model` (2 blocks, d_model 64, 4 heads, context 128, GPT-2's
# tokenizer and vocabulary; every 10th document held out for the validation
# loss), then its two SAEs (TopK and ReLU) trained by compute/train on its activations
# (weights/demo/trained_test.go). Not part of CI: it takes about half an hour
# on a 2-core machine. On the same machine and BLAS it gives the same files;
# elsewhere they may differ in the last bits (threaded matrix products).
# Afterwards, run `go test ./weights/demo` and copy the hash table it prints
# into weights/demo/model_test.go, and update assets/demo/README.md with the
# losses train-model printed.
#
# Usage: bash packaging/make-demo.sh [-b BINARY]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
bin=
while getopts "b:h" opt; do
	case $opt in
	b) bin=$OPTARG ;;
	h) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: bash packaging/make-demo.sh [-b BINARY]" >&2; exit 2 ;;
	esac
done
if [[ -z $bin ]]; then
	mkdir -p build
	go build -o build/saescope ./app
	bin=build/saescope
fi

"$bin" train-model --out assets/demo/tiny-gpt2 --layers 2 --d-model 64 --heads 4 --ctx 128 \
	--steps 450 --batch 8 --lr 5e-3 --warmup 30 --weight-decay 0.1 --clip 1 --min-count 2 --seed 1 --val-every 150
go test ./weights/demo -run TestRegenerateTrainedSAE -regen-trained-sae -count=1 -v -timeout 2h
go test ./weights/demo -run TestShippedFilesHashes -count=1 || true
