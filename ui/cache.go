package ui

import (
	"sync"

	"github.com/saescope/saescope/compute/features"
)

// logitK is how many boosted and suppressed tokens a feature's direct
// logit effect lists.
const logitK = 10

// maxCached bounds the logit effects kept per SAE.
const maxCached = 1024

// featureCache keeps what the detail and compare panes compute with the
// model for a feature (its direct logit effect: ln_final and a 50257-row
// unembedding), shared by the background jobs.
type featureCache struct {
	mu     sync.Mutex
	logits map[logitKey]*features.LogitEffect
}

type logitKey struct {
	f     int
	scale float32
}

// unembedScale is the scale of a decoder direction before it is
// unembedded: the store's (the average hidden norm), 1 without one (UI
// thread).
func (v *View) unembedScale() float32 {
	if st := v.Store(); st != nil && st.Meta.Summary.UnembedScale > 0 {
		return float32(st.Meta.Summary.UnembedScale)
	}
	return 1
}

// Logits returns the logitK tokens whose logits feature f's decoder
// direction (scaled by scale) raises and lowers most, cached. It runs the
// unembedding: call it off the UI thread.
func (v *View) Logits(f int, scale float32) (*features.LogitEffect, error) {
	c := &v.cache
	k := logitKey{f, scale}
	c.mu.Lock()
	if e, ok := c.logits[k]; ok {
		c.mu.Unlock()
		return e, nil
	}
	c.mu.Unlock()
	e, err := features.FeatureLogits(v.SAE.W.Model, v.SAE.Enc, f, scale, logitK)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.logits == nil || len(c.logits) >= maxCached {
		c.logits = map[logitKey]*features.LogitEffect{}
	}
	c.logits[k] = e
	c.mu.Unlock()
	return e, nil
}
