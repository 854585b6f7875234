#!/usr/bin/env bash
# A sharded scan on a Slurm cluster: analyze --shard I/N as an array job of
# N GPU tasks, then merge as a job that starts when every task has succeeded
# (--dependency=afterok). Run it on a login node:
#
#   MODEL=/shared/hf/hub/models--openai-community--gpt2/snapshots/607a30d783dfa663caf39e06633721c8d4cfcd7e \
#   SAE=/shared/hf/hub/models--jbloom--GPT2-Small-SAEs-Reformatted/snapshots/COMMIT/blocks.8.hook_resid_pre \
#   SHARDS=8 ROWS=100000 OUT=/shared/scans/l8 bash packaging/cluster/slurm.sh
#
# It submits itself twice; Slurm runs the same file as each array task
# (SLURM_ARRAY_TASK_ID set) and as the merge (SAESCOPE_STEP=merge).
# Variables: MODEL, SAE (paths on the shared file system, the same on every
# node), OUT (folder for the shard stores and the merged store), SHARDS (8),
# ROWS (100000), SEED (0), BACKEND (cuda), ANALYZE_ARGS (more analyze flags,
# the same for every shard: --corpus F, --batch N, --tokens-file F …), HF_HOME (the shared Hugging Face cache, where the
# corpus is), SAESCOPE (the saescope binary, default: saescope on the PATH;
# or run it in the container image with SAESCOPE="apptainer exec --nv
# saescope.sif saescope"). sbatch options (partition, account, time) go in
# SBATCH_ARGS.
#SBATCH --job-name=saescope
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --mem=24G
#SBATCH --output=saescope-%A_%a.log
set -euo pipefail

SHARDS=${SHARDS:-8}
ROWS=${ROWS:-100000}
SEED=${SEED:-0}
SAESCOPE=${SAESCOPE:-saescope}
BACKEND=${BACKEND:-cuda}
export HF_HUB_OFFLINE=1

if [[ -n "${SLURM_ARRAY_TASK_ID:-}" ]]; then
  # one shard: the rows of task I of N
  # shellcheck disable=SC2086 # SAESCOPE may be a command with arguments
  exec $SAESCOPE analyze --backend "$BACKEND" --quiet \
    --model "$MODEL" --sae "$SAE" --rows "$ROWS" --seed "$SEED" \
    --shard "$SLURM_ARRAY_TASK_ID/$SHARDS" ${ANALYZE_ARGS:-} \
    --out "$OUT/shard-$SLURM_ARRAY_TASK_ID-of-$SHARDS.saestore"
fi

if [[ "${SAESCOPE_STEP:-}" == merge ]]; then
  # every shard succeeded: the store one run would have made
  shards=()
  for ((i = 0; i < SHARDS; i++)); do
    shards+=("$OUT/shard-$i-of-$SHARDS.saestore")
  done
  # shellcheck disable=SC2086
  exec $SAESCOPE merge --backend cpu --quiet --out "$OUT/merged-$SHARDS.saestore" "${shards[@]}"
fi

# On the login node: check the inputs, then submit the array and the merge.
: "${MODEL:?set MODEL to the GPT-2 folder (on the shared file system)}"
: "${SAE:?set SAE to the SAE file or folder (on the shared file system)}"
: "${OUT:?set OUT to a shared folder for the shard stores}"
if ! [[ "$SHARDS" =~ ^[1-9][0-9]*$ ]]; then
  echo "SHARDS=$SHARDS: a number of shards, 1 or more" >&2
  exit 2
fi
mkdir -p "$OUT"
export MODEL SAE OUT SHARDS ROWS SEED SAESCOPE BACKEND ANALYZE_ARGS
read -r -a extra <<<"${SBATCH_ARGS:-}"
array=$(sbatch --parsable --export=ALL "${extra[@]}" --array="0-$((SHARDS - 1))" "$0")
array=${array%%;*}
merge=$(sbatch --parsable --export=ALL,SAESCOPE_STEP=merge "${extra[@]}" --gres=none --cpus-per-task=8 \
  --job-name=saescope-merge --output="$OUT/merge-%j.log" --dependency="afterok:$array" "$0")
echo "shards: job $array (array 0-$((SHARDS - 1))), merge: job ${merge%%;*} -> $OUT/merged-$SHARDS.saestore"
