package cluster

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The parts of a batch/v1 Job these manifests use. Decoding with
// KnownFields refuses any other key, so a misspelt field (completionMod,
// volumeMount) fails here as the API server would refuse it.
type job struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
	Spec       struct {
		CompletionMode string `yaml:"completionMode"`
		Completions    *int   `yaml:"completions"`
		Parallelism    *int   `yaml:"parallelism"`
		BackoffLimit   *int   `yaml:"backoffLimit"`
		Template       struct {
			Metadata meta    `yaml:"metadata"`
			Spec     podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type meta struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

type podSpec struct {
	RestartPolicy string      `yaml:"restartPolicy"`
	Containers    []container `yaml:"containers"`
	Volumes       []struct {
		Name string `yaml:"name"`
		PVC  *struct {
			ClaimName string `yaml:"claimName"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"persistentVolumeClaim"`
	} `yaml:"volumes"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Resources struct {
		Limits   map[string]string `yaml:"limits"`
		Requests map[string]string `yaml:"requests"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

func (c container) env(name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

func (c container) mount(name string) (path string, readOnly, ok bool) {
	for _, m := range c.VolumeMounts {
		if m.Name == name {
			return m.MountPath, m.ReadOnly, true
		}
	}
	return "", false, false
}

func readJob(t *testing.T, file string) job {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var j job
	if err := dec.Decode(&j); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return j
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// checkJob checks what every Job needs: the API version and kind, a name,
// a pod template whose restart policy a Job accepts, one container with
// an image and a command, and volume mounts that name declared volumes.
func checkJob(t *testing.T, file string, j job) container {
	t.Helper()
	if j.APIVersion != "batch/v1" || j.Kind != "Job" {
		t.Errorf("%s: %s %s, want batch/v1 Job", file, j.APIVersion, j.Kind)
	}
	if !dnsLabel.MatchString(j.Metadata.Name) || len(j.Metadata.Name) > 63 {
		t.Errorf("%s: name %q is not a DNS label", file, j.Metadata.Name)
	}
	ps := j.Spec.Template.Spec
	if ps.RestartPolicy != "Never" && ps.RestartPolicy != "OnFailure" {
		t.Errorf("%s: restartPolicy %q: a Job's pods need Never or OnFailure", file, ps.RestartPolicy)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", file, len(ps.Containers))
	}
	c := ps.Containers[0]
	if c.Image == "" || len(c.Command) == 0 || len(c.Args) != 1 {
		t.Errorf("%s: container %q needs an image, a command and one shell script argument", file, c.Name)
	}
	vols := map[string]bool{}
	for _, v := range ps.Volumes {
		if v.PVC == nil || v.PVC.ClaimName == "" {
			t.Errorf("%s: volume %q is not a persistentVolumeClaim with a claim", file, v.Name)
		}
		vols[v.Name] = true
	}
	for _, m := range c.VolumeMounts {
		if !vols[m.Name] || !strings.HasPrefix(m.MountPath, "/") {
			t.Errorf("%s: mount %q at %q: no such volume, or not an absolute path", file, m.Name, m.MountPath)
		}
	}
	if hf, ro, ok := c.mount("hf-cache"); !ok || !ro {
		t.Errorf("%s: the Hugging Face cache must be mounted read-only", file)
	} else if v, _ := c.env("HF_HOME"); v != hf {
		t.Errorf("%s: HF_HOME %q, want the cache's mount %q", file, v, hf)
	}
	return c
}

// The shard Job is an Indexed Job of SHARDS completions, each pod on a GPU
// scanning shard $JOB_COMPLETION_INDEX/$SHARDS into the shared volume; the
// merge Job reads exactly those files.
func TestManifests(t *testing.T) {
	sj := readJob(t, "shards-job.yaml")
	sc := checkJob(t, "shards-job.yaml", sj)
	if sj.Spec.CompletionMode != "Indexed" {
		t.Errorf("shards-job.yaml: completionMode %q: JOB_COMPLETION_INDEX needs Indexed", sj.Spec.CompletionMode)
	}
	if sj.Spec.Completions == nil || *sj.Spec.Completions < 1 || *sj.Spec.Completions > 100000 {
		t.Fatalf("shards-job.yaml: an Indexed Job needs completions from 1 to 100000")
	}
	n := *sj.Spec.Completions
	if p := sj.Spec.Parallelism; p == nil || *p < 1 || *p > n {
		t.Errorf("shards-job.yaml: parallelism should be 1 to completions (%d)", n)
	}
	if s, _ := sc.env("SHARDS"); s != strconv.Itoa(n) {
		t.Errorf("shards-job.yaml: SHARDS %q, completions %d: every index must be a shard", s, n)
	}
	if sc.Resources.Limits["nvidia.com/gpu"] != "1" {
		t.Errorf("shards-job.yaml: each shard pod asks for one GPU (limits nvidia.com/gpu: 1)")
	}
	script := sc.Args[0]
	for _, want := range []string{"saescope analyze", `--shard "$JOB_COMPLETION_INDEX/$SHARDS"`, "--model", "--sae"} {
		if !strings.Contains(script, want) {
			t.Errorf("shards-job.yaml: the script lacks %q", want)
		}
	}
	out := regexp.MustCompile(`--out "([^"]+)"`).FindStringSubmatch(script)
	shardsDir, _, ok := sc.mount("shards")
	if out == nil || !ok || !strings.HasPrefix(out[1], shardsDir+"/") {
		t.Fatalf("shards-job.yaml: --out must write into the shards volume (%q)", shardsDir)
	}

	mj := readJob(t, "merge-job.yaml")
	mc := checkJob(t, "merge-job.yaml", mj)
	if mj.Spec.CompletionMode == "Indexed" || mj.Spec.Completions == nil || *mj.Spec.Completions != 1 {
		t.Errorf("merge-job.yaml: one merge pod, not indexed")
	}
	if s, _ := mc.env("SHARDS"); s != strconv.Itoa(n) {
		t.Errorf("merge-job.yaml: SHARDS %q, the shard Job has %d", s, n)
	}
	if d, _, _ := mc.mount("shards"); d != shardsDir {
		t.Errorf("merge-job.yaml: shards mounted at %q, the shard Job writes to %q", d, shardsDir)
	}
	if claim(mj, "shards") != claim(sj, "shards") || claim(sj, "shards") == "" {
		t.Errorf("merge-job.yaml: the shards volume is another claim than the shard Job's")
	}
	glob := strings.ReplaceAll(out[1], "$JOB_COMPLETION_INDEX", "*")
	if !strings.Contains(mc.Args[0], "saescope merge") || !strings.Contains(mc.Args[0], glob) {
		t.Errorf("merge-job.yaml: the script should merge %s", glob)
	}
}

func claim(j job, volume string) string {
	for _, v := range j.Spec.Template.Spec.Volumes {
		if v.Name == volume && v.PVC != nil {
			return v.PVC.ClaimName
		}
	}
	return ""
}

// The Slurm script parses (bash -n) and, when shellcheck is installed,
// passes it.
func TestSlurmScriptLints(t *testing.T) {
	if out, err := exec.Command("bash", "-n", "slurm.sh").CombinedOutput(); err != nil {
		t.Fatalf("bash -n slurm.sh: %v\n%s", err, out)
	}
	b, err := os.ReadFile("slurm.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#SBATCH --gres=gpu:1", "SLURM_ARRAY_TASK_ID", "--array=", "--dependency=\"afterok:", "merge"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("slurm.sh lacks %q", want)
		}
	}
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Log("shellcheck is not installed: bash -n only")
		return
	}
	if out, err := exec.Command("shellcheck", "slurm.sh").CombinedOutput(); err != nil {
		t.Errorf("shellcheck slurm.sh: %v\n%s", err, out)
	}
}

// buildApp builds the saescope binary of this checkout into dir.
func buildApp(t *testing.T, dir string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the app and runs scans: not with -short")
	}
	bin := filepath.Join(dir, "saescope")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/saescope/saescope/app")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

const (
	fixModel = "../../testdata/fixtures/tiny-gpt2"
	fixSAE   = "../../testdata/fixtures/tiny-gpt2_256_resid_pre_1.pt"
)

// The Slurm script, run as a login node would (sbatch replaced by a stub
// that runs each submitted job at once, the array's tasks in turn and the
// merge after them, as afterok would), scans 3 shards of the fixtures'
// tiny model on the CPU and merges them into the store one analyze makes.
func TestSlurmDryRun(t *testing.T) {
	dir := t.TempDir()
	bin := buildApp(t, dir)
	model, _ := filepath.Abs(fixModel)
	sae, _ := filepath.Abs(fixSAE)
	stub := filepath.Join(dir, "sbatch")
	// The stub: the script is the last argument; --array=0-K runs it K+1
	// times with SLURM_ARRAY_TASK_ID; it prints a job id.
	if err := os.WriteFile(stub, []byte(`#!/usr/bin/env bash
set -e
script=${@: -1}
echo "$*" >> "$LOG"
for a in "$@"; do
  case $a in
    --array=*) r=${a#--array=}; for ((i=${r%-*}; i<=${r#*-}; i++)); do SLURM_ARRAY_TASK_ID=$i bash "$script" > "$OUT/task-$i.json"; done; echo 101; exit;;
    --export=ALL,SAESCOPE_STEP=merge) SAESCOPE_STEP=merge bash "$script" > "$OUT/merge.json"; echo 102; exit;;
  esac
done
exit 1
`), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command("bash", "slurm.sh")
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "LOG="+filepath.Join(dir, "sbatch.log"),
		"MODEL="+model, "SAE="+sae, "OUT="+out, "SHARDS=3", "ROWS=30", "BACKEND=cpu", "SAESCOPE="+bin,
		"ANALYZE_ARGS=--batch 2 --recon-rows 2 --blas gonum", "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("slurm.sh: %v\n%s", err, res)
	}
	if !strings.Contains(string(res), "shards: job 101 (array 0-2), merge: job 102") {
		t.Errorf("slurm.sh said %q", res)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "sbatch.log"))
	if !strings.Contains(string(log), "--dependency=afterok:101") {
		t.Errorf("the merge is not submitted after the array: %s", log)
	}
	one := filepath.Join(dir, "one.saestore")
	run := exec.Command(bin, "analyze", "--backend", "cpu", "--quiet", "--model", model, "--sae", sae, "--rows", "30", "--seed", "0",
		"--batch", "2", "--recon-rows", "2", "--blas", "gonum", "--out", one)
	run.Env = cmd.Env
	if b, err := run.CombinedOutput(); err != nil {
		t.Fatalf("analyze: %v\n%s", err, b)
	}
	sameRanking(t, bin, one, filepath.Join(out, "merged-3.saestore"))
}

// sameRanking fails t unless the two stores rank and describe feature 3
// alike (the merge's equality with one run is analysis' test; here the
// files only have to be the same analysis).
func sameRanking(t *testing.T, bin, a, b string) {
	t.Helper()
	for _, args := range [][]string{{"rank", "--by", "mean", "--csv"}, {"contexts", "--feature", "3", "--k", "10"}, {"contexts", "--feature", "3", "--intervals"}} {
		var outs [2][]byte
		for i, s := range []string{a, b} {
			o, err := exec.Command(bin, append(args, "--store", s)...).Output()
			if err != nil {
				t.Fatalf("%s --store %s: %v", strings.Join(args, " "), s, err)
			}
			outs[i] = o
		}
		if !bytes.Equal(outs[0], outs[1]) || len(outs[0]) == 0 {
			t.Errorf("%s: the merged store differs from one run's", strings.Join(args, " "))
		}
	}
}

// The Indexed Job's scripts, run by sh as the pods would (each index in
// turn, the volumes' mount paths moved into a temporary folder, the env
// the manifest sets, BACKEND=cpu and the fixtures' model and SAE), scan
// the shards and merge them into the store one analyze makes.
func TestIndexedJobDryRun(t *testing.T) {
	dir := t.TempDir()
	bin := buildApp(t, dir)
	model, _ := filepath.Abs(fixModel)
	sae, _ := filepath.Abs(fixSAE)
	shardsDir := filepath.Join(dir, "shards")
	if err := os.MkdirAll(shardsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	const n = 3
	env := func(c container, index int) []string {
		e := []string{"PATH=" + dir + ":" + os.Getenv("PATH"), "HOME=" + dir, "XDG_CACHE_HOME=" + filepath.Join(dir, "cache")}
		for _, v := range c.Env {
			e = append(e, v.Name+"="+v.Value)
		}
		return append(e, fmt.Sprintf("JOB_COMPLETION_INDEX=%d", index), fmt.Sprint("SHARDS=", n), "BACKEND=cpu", "ROWS=30",
			"MODEL="+model, "SAE="+sae, "ANALYZE_ARGS=--batch 2 --recon-rows 2 --blas gonum", "HF_HOME="+filepath.Join(dir, "hf"))
	}
	script := func(c container) string {
		d, _, _ := c.mount("shards")
		return strings.ReplaceAll(c.Args[0], d+"/", shardsDir+"/")
	}
	sc := readJob(t, "shards-job.yaml").Spec.Template.Spec.Containers[0]
	for i := 0; i < n; i++ {
		cmd := exec.Command(sc.Command[0], append(sc.Command[1:], script(sc))...)
		cmd.Env = env(sc, i)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("shard %d: %v\n%s", i, err, out)
		}
	}
	mc := readJob(t, "merge-job.yaml").Spec.Template.Spec.Containers[0]
	cmd := exec.Command(mc.Command[0], append(mc.Command[1:], strings.ReplaceAll(script(mc), "--backend cpu", "--backend cpu --blas gonum"))...)
	cmd.Env = env(mc, 0)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("merge: %v\n%s", err, out)
	}
	one := filepath.Join(dir, "one.saestore")
	run := exec.Command(bin, "analyze", "--backend", "cpu", "--quiet", "--model", model, "--sae", sae, "--rows", "30", "--seed", "0",
		"--batch", "2", "--recon-rows", "2", "--blas", "gonum", "--out", one)
	run.Env = env(sc, 0)
	if b, err := run.CombinedOutput(); err != nil {
		t.Fatalf("analyze: %v\n%s", err, b)
	}
	sameRanking(t, bin, one, filepath.Join(shardsDir, fmt.Sprintf("merged-%d.saestore", n)))
}
