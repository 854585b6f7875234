package catalog

import (
	"fmt"

	"github.com/saescope/saescope/weights/hub"
)

// The SAE releases for GPT-2 small. Repository names, folder names, hooks
// and Neuronpedia ids are those of SAELens' sae_lens/pretrained_saes.yaml
// (jbloomAus/SAELens 6.18.0, October 2025); the transcoders, which that
// file does not list, are named as their authors' code fetches them.

const (
	featureSplitRepo = "jbloom/GPT2-Small-Feature-Splitting-Experiment-Layer-8"
	kkRepo           = "ckkissane/attn-saes-gpt2-small-all-layers"
	tmRepo           = "tommmcgrath/gpt2-small-mlp-out-saes"
	dunefskyRepo     = "jacobdunefsky/gpt2small-transcoders"
	arenaTCRepo      = "callummcdougall/arena-demos-transcoder"
	tmDSae           = 24576
	tcDSae           = 24576
	e2eDSae          = 60 * dModel // dict_size_to_input_ratio 60 (ApolloResearch/e2e_sae)
	oaiK             = 32
	oaiContext       = 64
)

// Families as sae.SAE.Describe words them.
const (
	familyReLU       = "ReLU"
	familyHookZ      = "ReLU, attention heads (hook_z)"
	familyTopK       = "TopK (k = 32), layer_norm"
	familyTranscoder = "ReLU transcoder ln2.hook_normalized → hook_mlp_out"
)

// saeBytes estimates the download of float32 W_enc [dIn, dSae], b_enc,
// W_dec [dSae, dOut], b_dec and extra more values, without headers.
func saeBytes(dIn, dSae, dOut, extra int) int64 {
	return int64(dIn*dSae+dSae+dSae*dOut+dOut+extra) * f32
}

func np(id string) string { return "gpt2-small/" + id }

// saeReleases returns the SAE entries, release by release.
func saeReleases() []*Entry {
	var out []*Entry
	out = append(out, jacobEntries()...)
	out = append(out, resJBEntries()...)
	out = append(out, featureSplittingEntries()...)
	out = append(out, hookZKKEntries()...)
	out = append(out, mlpTMEntries()...)
	out = append(out, openAIv5Entries()...)
	out = append(out, e2eEntries()...)
	out = append(out, dunefskyEntries()...)
	out = append(out, arenaTranscoderEntries()...)
	return out
}

func jacobEntries() []*Entry {
	var out []*Entry
	for _, site := range []string{"resid_pre", "mlp_out"} {
		for l := range nLayers {
			file := fmt.Sprintf("gpt2-small_%d_%s_%d.pt", jacobDSae, site, l)
			out = append(out, &Entry{
				Name: fmt.Sprintf("jacobcd52/%s_%d", site, l), Kind: KindSAE, Release: "jacobcd52",
				Title: fmt.Sprintf("SAE, %d features, blocks.%d.hook_%s (jacobcd52, torch .pt)", jacobDSae, l, site),
				Repo:  hub.Model(jacobRepo), Revision: "main",
				Files: []string{file}, Target: file, Family: familyReLU,
				Hook: fmt.Sprintf("blocks.%d.hook_%s", l, site), DIn: dModel, DSae: jacobDSae,
				KnownSize:  saeBytes(dModel, jacobDSae, dModel, 0),
				SizeSource: "estimate: float32 W_enc, W_dec, b_enc, b_dec of 768×6144, without the .pt container",
			})
		}
	}
	return out
}

// saeLensFolder is an entry for a SAELens folder (cfg.json,
// sae_weights.safetensors, sparsity.safetensors when published).
func saeLensFolder(release, id, repo, folder, hook string, dSae int) *Entry {
	return &Entry{
		Name: release + "/" + id, Kind: KindSAE, Release: release,
		Repo: hub.Model(repo), Revision: "main",
		Files:    []string{folder + "/cfg.json", folder + "/sae_weights.safetensors"},
		Optional: []string{folder + "/sparsity.safetensors"},
		Target:   folder, Hook: hook, DIn: dModel, DSae: dSae, Family: familyReLU,
		KnownSize:  saeBytes(dModel, dSae, dModel, dSae),
		SizeSource: fmt.Sprintf("estimate: float32 weights of 768×%d and the feature sparsities, without headers", dSae),
	}
}

func resJBEntries() []*Entry {
	var out []*Entry
	var hooks []string
	for l := range nLayers {
		hooks = append(hooks, fmt.Sprintf("blocks.%d.hook_resid_pre", l))
	}
	hooks = append(hooks, "blocks.11.hook_resid_post")
	for i, h := range hooks {
		e := saeLensFolder("gpt2-small-res-jb", h, jbRepo, h, h, jbDSae)
		e.Title = fmt.Sprintf("SAE, %d features, %s (SAELens gpt2-small-res-jb)", jbDSae, h)
		e.NeuronpediaID = np(fmt.Sprintf("%d-res-jb", i)) // resid_post 11 is Neuronpedia's "12"
		out = append(out, e)
	}
	return out
}

func featureSplittingEntries() []*Entry {
	var out []*Entry
	for d := dModel; d <= 128*dModel; d *= 2 {
		id := fmt.Sprintf("blocks.8.hook_resid_pre_%d", d)
		e := saeLensFolder("gpt2-small-res-jb-feature-splitting", id, featureSplitRepo, id, "blocks.8.hook_resid_pre", d)
		e.Title = fmt.Sprintf("SAE, %d features, blocks.8.hook_resid_pre (SAELens feature-splitting set, jbloom)", d)
		e.NeuronpediaID = np(fmt.Sprintf("8-res_fs%d-jb", d))
		out = append(out, e)
	}
	return out
}

// kkRuns are the file stems of Kissane et al.'s attention SAEs, layer by
// layer (<run>.pt and <run>_cfg.json).
var kkRuns = [nLayers]string{
	"gpt2-small_L0_Hcat_z_lr1.20e-03_l11.80e+00_ds24576_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v9",
	"gpt2-small_L1_Hcat_z_lr1.20e-03_l18.00e-01_ds24576_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v5",
	"gpt2-small_L2_Hcat_z_lr1.20e-03_l11.00e+00_ds24576_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v4",
	"gpt2-small_L3_Hcat_z_lr1.20e-03_l19.00e-01_ds24576_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v9",
	"gpt2-small_L4_Hcat_z_lr1.20e-03_l11.10e+00_ds24576_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v7",
	"gpt2-small_L5_Hcat_z_lr1.20e-03_l11.00e+00_ds49152_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v9",
	"gpt2-small_L6_Hcat_z_lr1.20e-03_l11.10e+00_ds24576_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v9",
	"gpt2-small_L7_Hcat_z_lr1.20e-03_l11.10e+00_ds49152_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v9",
	"gpt2-small_L8_Hcat_z_lr1.20e-03_l11.30e+00_ds24576_bs4096_dc1.00e-05_rsanthropic_rie25000_nr4_v6",
	"gpt2-small_L9_Hcat_z_lr1.20e-03_l11.20e+00_ds24576_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v9",
	"gpt2-small_L10_Hcat_z_lr1.20e-03_l11.30e+00_ds24576_bs4096_dc1.00e-05_rsanthropic_rie25000_nr4_v9",
	"gpt2-small_L11_Hcat_z_lr1.20e-03_l13.00e+00_ds24576_bs4096_dc3.16e-06_rsanthropic_rie25000_nr4_v9",
}

func hookZKKEntries() []*Entry {
	var out []*Entry
	for l, run := range kkRuns {
		dSae := 24576
		if l == 5 || l == 7 {
			dSae = 49152
		}
		hook := fmt.Sprintf("blocks.%d.attn.hook_z", l)
		out = append(out, &Entry{
			// SAELens calls these blocks.L.hook_z (TransformerLens' alias).
			Name: fmt.Sprintf("gpt2-small-hook-z-kk/blocks.%d.hook_z", l), Kind: KindSAE, Release: "gpt2-small-hook-z-kk",
			Title: fmt.Sprintf("attention SAE, %d features, %s (Kissane et al., torch .pt + _cfg.json)", dSae, hook),
			Repo:  hub.Model(kkRepo), Revision: "main",
			Files: []string{run + ".pt", run + "_cfg.json"}, Target: run + ".pt",
			Hook: hook, DIn: dModel, DSae: dSae, Family: familyHookZ,
			NeuronpediaID: np(fmt.Sprintf("%d-att-kk", l)),
			KnownSize:     saeBytes(dModel, dSae, dModel, 0),
			SizeSource:    fmt.Sprintf("estimate: float32 W_enc, W_dec, b_enc, b_dec of 768×%d, without the .pt container", dSae),
		})
	}
	return out
}

// tmNormScaling are the norm_scaling_factor values SAELens' yaml gives
// for gpt2-small-mlp-tm, layer by layer.
var tmNormScaling = [nLayers]float64{
	1.049317316132615, 2.3693984005104283, 1.6411934982190302, 1.8958522157897557,
	1.81673478700627, 1.550234472245924, 1.3237742807210804, 1.1042905114723296,
	0.9123762783479742, 0.6955335635232373, 0.3619728926727644, 0.2851548652550073,
}

func mlpTMEntries() []*Entry {
	var out []*Entry
	for l := range nLayers {
		v := 0
		switch l {
		case 0, 8:
			v = 1
		case 11:
			v = 2
		}
		hook := fmt.Sprintf("blocks.%d.hook_mlp_out", l)
		folder := fmt.Sprintf("sae_group_gpt2_blocks.%d.hook_mlp_out_%d:v%d", l, tmDSae, v)
		e := saeLensFolder("gpt2-small-mlp-tm", hook, tmRepo, folder, hook, tmDSae)
		e.Title = fmt.Sprintf("SAE, %d features, %s (SAELens gpt2-small-mlp-tm, McGrath)", tmDSae, hook)
		e.NormScalingFactor = tmNormScaling[l]
		out = append(out, e)
	}
	return out
}

// oaiSites are OpenAI's v5 sites: SAELens' release word, the hook point,
// the repository word and Neuronpedia's word.
var oaiSites = []struct{ release, point, repo, np string }{
	{"resid-post", "hook_resid_post", "resid-post", "res_post"},
	{"resid-mid", "hook_resid_mid", "resid-mid", "res_mid"},
	{"attn-out", "hook_attn_out", "attn-out", "att"},
	{"mlp-out", "hook_mlp_out", "mlp-out", "mlp"},
}

func openAIv5Entries() []*Entry {
	var out []*Entry
	for _, width := range []struct {
		name string
		dSae int
	}{{"32k", 32768}, {"128k", 131072}} {
		for _, site := range oaiSites {
			release := fmt.Sprintf("gpt2-small-%s-v5-%s", site.release, width.name)
			repo := fmt.Sprintf("jbloom/GPT2-Small-OAI-v5-%s-%s-SAEs", width.name, site.repo)
			for l := range nLayers {
				hook := fmt.Sprintf("blocks.%d.%s", l, site.point)
				folder := fmt.Sprintf("v5_%s_layer_%d", width.name, l)
				if width.name == "32k" && site.release == "resid-post" {
					folder += ".pt" // a folder, named so in that repository
				}
				e := saeLensFolder(release, hook, repo, folder, hook, width.dSae)
				e.Title = fmt.Sprintf("TopK SAE (k = %d, layer_norm), %d features, %s (OpenAI v5 %s, SAELens folder; trained without BOS, context %d)",
					oaiK, width.dSae, hook, width.name, oaiContext)
				e.Family, e.NoBOS, e.ContextSize = familyTopK, true, oaiContext
				e.NeuronpediaID = np(fmt.Sprintf("%d-%s_%s-oai", l, site.np, width.name))
				e.KnownSize = saeBytes(dModel, width.dSae, dModel, 0)
				e.SizeSource = fmt.Sprintf("estimate: float32 weights of 768×%d, without headers", width.dSae)
				out = append(out, e)
			}
		}
	}
	return out
}

// e2eSets are Braun et al.'s end-to-end SAE sets, in SAELens' yaml order.
var e2eSets = []string{"sce", "scefr", "scl", "sle", "slefr", "sll"}

func e2eEntries() []*Entry {
	var out []*Entry
	for _, set := range e2eSets {
		release := fmt.Sprintf("gpt2-small-res_%s-ajt", set)
		repo := fmt.Sprintf("neuronpedia/gpt2-small__res_%s-ajt", set)
		for _, l := range []int{2, 6, 10} {
			hook := fmt.Sprintf("blocks.%d.hook_resid_pre", l)
			folder := fmt.Sprintf("%d-res_%s-ajt", l, set)
			e := saeLensFolder(release, hook, repo, folder, hook, e2eDSae)
			e.Title = fmt.Sprintf("SAE, %d features, %s (Braun et al. e2e, res_%s-ajt)", e2eDSae, hook, set)
			e.NeuronpediaID = np(folder)
			if set == "slefr" && l == 10 {
				e.Note = "the e2e_sae authors' own scripts say 10-res_slefr-ajt does not exist; SAELens lists it"
			}
			out = append(out, e)
		}
	}
	return out
}

func dunefskyEntries() []*Entry {
	var out []*Entry
	for l := range nLayers {
		folder := fmt.Sprintf("gpt2-small-dun-chl-mlp-tc%d", l)
		out = append(out, &Entry{
			Name: fmt.Sprintf("jacobdunefsky/mlp_tc_%d", l), Kind: KindSAE, Release: "jacobdunefsky/gpt2small-transcoders",
			Title: fmt.Sprintf("MLP transcoder, %d features, blocks.%d.ln2.hook_normalized → hook_mlp_out (Dunefsky, Chlenski et al., sae.json + sae.safetensors)", tcDSae, l),
			Repo:  hub.Model(dunefskyRepo), Revision: "main",
			Files:  []string{folder + "/sae.json", folder + "/sae.safetensors"},
			Target: folder, Family: familyTranscoder,
			Hook: fmt.Sprintf("blocks.%d.ln2.hook_normalized", l), HookOut: fmt.Sprintf("blocks.%d.hook_mlp_out", l),
			DIn: dModel, DSae: tcDSae,
			NeuronpediaID: np(fmt.Sprintf("%d-tres-dc", l)),
			KnownSize:     saeBytes(dModel, tcDSae, dModel, dModel),
			SizeSource:    "estimate: float32 W_enc, W_dec of 768×24576, b_enc, b_dec, b_dec_out, without headers",
		})
	}
	return out
}

// arenaTCLayers is how many layers ARENA's transcoder demos load (0 to 8).
const arenaTCLayers = 9

func arenaTranscoderEntries() []*Entry {
	var out []*Entry
	for l := range arenaTCLayers {
		folder := fmt.Sprintf("gpt2-small-layer-%d-mlp-transcoder-folded-b_dec_out", l)
		out = append(out, &Entry{
			Name: fmt.Sprintf("callummcdougall/mlp_tc_%d", l), Kind: KindSAE, Release: "callummcdougall/arena-demos-transcoder",
			Title: fmt.Sprintf("MLP transcoder, %d features, blocks.%d.ln2.hook_normalized → hook_mlp_out (Dunefsky et al.'s, b_dec_out folded, SAELens folder from ARENA)", tcDSae, l),
			Repo:  hub.Model(arenaTCRepo), Revision: "main",
			Files:  []string{folder + "/cfg.json", folder + "/sae_weights.safetensors"},
			Target: folder, Family: familyTranscoder,
			Hook: fmt.Sprintf("blocks.%d.ln2.hook_normalized", l), HookOut: fmt.Sprintf("blocks.%d.hook_mlp_out", l),
			DIn: dModel, DSae: tcDSae,
			NeuronpediaID: np(fmt.Sprintf("%d-tres-dc", l)),
			KnownSize:     saeBytes(dModel, tcDSae, dModel, 0),
			SizeSource:    "estimate: float32 weights of 768×24576, without headers",
		})
	}
	return out
}
