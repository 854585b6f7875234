package workspace

import (
	"fmt"
	"math"
)

// State is what a window showed of a workspace when it was left, saved
// with the workspace so that it reopens as it was: the SAE tab and pane
// shown, each SAE's selected feature, the pinned features and the Steer
// pane's preset. SAEs are named by their index in the workspace's list of
// SAEs. Every field is optional: a workspace saved before a field existed
// reopens with that field's default.
type State struct {
	// Tab is the index of the SAE whose tab was shown.
	Tab int `json:"tab,omitempty"`
	// Pane is the pane shown (a --pane name); "" for the default.
	Pane string `json:"pane,omitempty"`
	// Selected holds each SAE's selected feature, -1 for none.
	Selected []int `json:"selected,omitempty"`
	// Pins are the features pinned for comparison, in pinning order.
	Pins []FeatureRef `json:"pins,omitempty"`
	// Steer is the Steer pane's list and settings; nil for the defaults.
	Steer *SteerPreset `json:"steer,omitempty"`
}

// FeatureRef is a feature of one of the workspace's SAEs.
type FeatureRef struct {
	SAE     int `json:"sae"`
	Feature int `json:"feature"`
}

// SteerPreset is the Steer pane's list of features with their modes and
// coefficients, its prompt and its generation settings.
type SteerPreset struct {
	Features    []SteerItem `json:"features,omitempty"`
	Prompt      string      `json:"prompt"`
	Tokens      int         `json:"tokens"`
	Temperature float64     `json:"temperature,omitempty"` // 0: greedy
	TopP        float64     `json:"top_p,omitempty"`       // 0 when saved without: 1
	Seed        uint64      `json:"seed,omitempty"`
	// Scope is "all" (or ""), "prompt" or "position" (Pos).
	Scope string `json:"scope,omitempty"`
	Pos   int    `json:"pos,omitempty"`
}

// SteerItem is one feature of a SteerPreset: "add", "clamp" or "ablate",
// and its coefficient.
type SteerItem struct {
	FeatureRef
	Mode  string  `json:"mode"`
	Coeff float64 `json:"coeff"`
}

// Valid returns the state with what does not fit the workspace left out:
// features of SAEs it does not have or out of their range (dSae holds the
// number of features of each SAE), unknown modes, coefficients that are
// not finite numbers; notes says what was dropped, for the status line.
func (s State) Valid(dSae []int) (State, []string) {
	var notes []string
	ok := func(r FeatureRef, what string) bool {
		switch {
		case r.SAE < 0 || r.SAE >= len(dSae):
			notes = append(notes, fmt.Sprintf("%s: the workspace has no SAE %d", what, r.SAE))
			return false
		case r.Feature < 0 || r.Feature >= dSae[r.SAE]:
			notes = append(notes, fmt.Sprintf("%s: feature %d out of range (SAE %d has %d features)", what, r.Feature, r.SAE, dSae[r.SAE]))
			return false
		}
		return true
	}
	out := State{Pane: s.Pane}
	if s.Tab >= 0 && s.Tab < len(dSae) {
		out.Tab = s.Tab
	}
	for i, f := range s.Selected {
		if i >= len(dSae) {
			break
		}
		if f >= 0 && !ok(FeatureRef{SAE: i, Feature: f}, "selected feature") {
			f = -1
		}
		out.Selected = append(out.Selected, f)
	}
	for _, p := range s.Pins {
		if ok(p, "pinned feature") {
			out.Pins = append(out.Pins, p)
		}
	}
	if s.Steer != nil {
		st := *s.Steer
		st.Features = nil
		for _, it := range s.Steer.Features {
			switch {
			case !ok(it.FeatureRef, "steered feature"):
			case it.Mode != "add" && it.Mode != "clamp" && it.Mode != "ablate":
				notes = append(notes, fmt.Sprintf("steered feature %d: unknown mode %q", it.Feature, it.Mode))
			case math.IsNaN(it.Coeff) || math.IsInf(it.Coeff, 0):
				notes = append(notes, fmt.Sprintf("steered feature %d: coefficient %v is not a finite number", it.Feature, it.Coeff))
			default:
				st.Features = append(st.Features, it)
			}
		}
		out.Steer = &st
	}
	return out, notes
}
