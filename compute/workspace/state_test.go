package workspace

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

// A State survives JSON as written, and JSON written before a field
// existed reads as that field's default.
func TestStateJSON(t *testing.T) {
	st := State{Tab: 1, Pane: "steer", Selected: []int{17, -1},
		Pins: []FeatureRef{{SAE: 0, Feature: 3}, {SAE: 1, Feature: 12}},
		Steer: &SteerPreset{Prompt: "The cat", Tokens: 12, Temperature: 0.7, TopP: 0.9, Seed: 42, Scope: "position", Pos: -2,
			Features: []SteerItem{{FeatureRef{0, 17}, "add", 2.5}, {FeatureRef{1, 4}, "ablate", 0}}}}
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"tab":1`, `"pane":"steer"`, `"selected":[17,-1]`, `"pins":[{"sae":0,"feature":3}`, `"mode":"add","coeff":2.5`, `"top_p":0.9`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("%s lacks %s", raw, key)
		}
	}
	var back State
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, st) {
		t.Errorf("read back %+v, wrote %+v", back, st)
	}
	var old State
	if err := json.Unmarshal([]byte(`{}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.Tab != 0 || old.Pane != "" || old.Selected != nil || old.Pins != nil || old.Steer != nil {
		t.Errorf("empty state read as %+v", old)
	}
}

// Valid keeps what fits the workspace and says what it left out.
func TestStateValid(t *testing.T) {
	st := State{Tab: 5, Pane: "contexts", Selected: []int{300, 7, 2},
		Pins: []FeatureRef{{0, 1}, {2, 0}, {1, -1}, {1, 99}},
		Steer: &SteerPreset{Prompt: "x", Tokens: 3, Features: []SteerItem{
			{FeatureRef{0, 1}, "add", 1}, {FeatureRef{0, 2}, "boost", 1}, {FeatureRef{1, 3}, "clamp", math.Inf(1)}, {FeatureRef{3, 0}, "add", 1}}}}
	got, notes := st.Valid([]int{256, 100})
	want := State{Pane: "contexts", Selected: []int{-1, 7},
		Pins:  []FeatureRef{{0, 1}, {1, 99}},
		Steer: &SteerPreset{Prompt: "x", Tokens: 3, Features: []SteerItem{{FeatureRef{0, 1}, "add", 1}}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("valid %+v (steer %+v), want %+v (steer %+v)", got, got.Steer, want, want.Steer)
	}
	// dropped: selected 300, pins {2,0} and {1,-1}, modes boost, Inf, SAE 3
	if len(notes) != 6 {
		t.Errorf("%d notes: %q", len(notes), notes)
	}
}
