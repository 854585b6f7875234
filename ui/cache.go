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
// model for a feature (its logit weights: a 50257-row unembedding),
// shared by the background jobs.
type featureCache struct {
	mu     sync.Mutex
	logits map[int]*features.LogitEffect
}

// Logits returns the logitK tokens whose logit weights feature f's
// decoder direction raises and lowers most (features.FeatureLogits: the
// figures sae_vis and Neuronpedia show), cached. It runs the unembedding:
// call it off the UI thread.
func (v *View) Logits(f int) (*features.LogitEffect, error) {
	c := &v.cache
	c.mu.Lock()
	if e, ok := c.logits[f]; ok {
		c.mu.Unlock()
		return e, nil
	}
	c.mu.Unlock()
	e, err := features.FeatureLogits(v.SAE.W.Model, v.SAE.Enc, f, logitK)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.logits == nil || len(c.logits) >= maxCached {
		c.logits = map[int]*features.LogitEffect{}
	}
	c.logits[f] = e
	c.mu.Unlock()
	return e, nil
}
