package ui

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/saescope/saescope/compute/intervene"
	"github.com/saescope/saescope/compute/model"
	"github.com/saescope/saescope/weights/tokenizer"
)

// SteerDelay is how long the Steer pane's inputs must rest (a slider
// dragged, a prompt typed) before the model runs.
const SteerDelay = 120 * time.Millisecond

// SteerTop is how many tokens each list of the next-token view shows.
const SteerTop = 5

// errNoModel is the Steer pane's message when there is nothing to run.
var errNoModel = errors.New("no model loaded: open a model and add an SAE to steer its features")

// SteerResult is one run of the Steer pane: the prompt's tokens, the plain
// and the steered continuations (the same sampling seed), and the
// next-token view of the prompt's last position.
type SteerResult struct {
	Prompt                 []int32
	Plain, Steered         []int32
	PlainText, SteeredText string
	Next                   intervene.NextToken
	// LossPlain and LossSteered are the mean loss over the prompt; HasLoss
	// is false for a prompt of one token (nothing to predict).
	LossPlain, LossSteered float64
	HasLoss                bool
	// Steering says how many interventions the steered run had.
	Steering int
	Settings SteerSettings
	Elapsed  time.Duration
}

// steerRequest is what one run computes: a snapshot of the list and the
// settings, taken on the UI thread.
type steerRequest struct {
	id       uint64
	v        *View // whose model and tokenizer run it
	features []SteerFeature
	settings SteerSettings
}

// plainRun is the unsteered run of a prompt, kept while only the
// interventions change (dragging a slider reruns the steered side only).
type plainRun struct {
	key  string
	res  *intervene.Result
	loss float64
}

// steerRunner runs the Steer pane's requests off the UI thread: debounced,
// the newest request wins, the run in flight is cancelled as soon as a
// newer one is asked for, and only the newest result is shown.
type steerRunner struct {
	jobs  *Jobs
	delay time.Duration
	// onResult is called on the UI thread with a run's id and its result
	// or error (only for the newest request).
	onResult func(id uint64, res *SteerResult, err error)

	mu      sync.Mutex
	wg      sync.WaitGroup
	newest  uint64
	pending *steerRequest
	timer   *time.Timer
	cancel  context.CancelFunc // of the run in flight
	plain   *plainRun
	// stale counts the runs that ended cancelled or were overtaken by a
	// newer request (tests).
	stale int
	// started, when set, is called as each run starts, with its context
	// (tests).
	started func(ctx context.Context, id uint64)
}

func newSteerRunner(jobs *Jobs, onResult func(uint64, *SteerResult, error)) *steerRunner {
	return &steerRunner{jobs: jobs, delay: SteerDelay, onResult: onResult}
}

// Request asks for req to run after the debounce delay; the run in flight,
// if any, is cancelled. It returns the request's id.
func (r *steerRunner) Request(req steerRequest) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.newest++
	req.id = r.newest
	r.pending = &req
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
	if r.timer != nil && r.timer.Stop() {
		r.timer.Reset(r.delay)
		return req.id
	}
	r.wg.Add(1)
	r.timer = time.AfterFunc(r.delay, r.fire)
	return req.id
}

// Cancel drops the pending request and cancels the run in flight: the
// input is now invalid, so no older result may be shown.
func (r *steerRunner) Cancel() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.newest++
	r.pending = nil
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
	if r.timer != nil && r.timer.Stop() {
		r.timer = nil
		r.wg.Done()
	}
}

// Newest is the id of the newest request.
func (r *steerRunner) Newest() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.newest
}

// Stale is how many runs were cancelled or overtaken.
func (r *steerRunner) Stale() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stale
}

func (r *steerRunner) fire() {
	r.mu.Lock()
	r.timer = nil
	req := r.pending
	r.pending = nil
	if req == nil {
		r.mu.Unlock()
		r.wg.Done()
		return
	}
	ctx, cancel := context.WithCancel(r.jobs.Context())
	r.cancel = cancel
	started := r.started
	r.mu.Unlock()
	r.jobs.Go(func(context.Context) {
		defer r.wg.Done()
		defer cancel()
		if started != nil {
			started(ctx, req.id)
		}
		res, err := r.compute(ctx, req)
		r.mu.Lock()
		stale := req.id != r.newest || ctx.Err() != nil
		if stale {
			r.stale++
		}
		r.mu.Unlock()
		if stale {
			return
		}
		uiDo(func() { r.onResult(req.id, res, err) })
	})
}

// Settle waits until no request is pending or running and the results
// are shown (tests, measurements).
func (r *steerRunner) Settle() {
	for {
		r.wg.Wait()
		if !settled() {
			return
		}
	}
}

// compute runs req: the plain run (kept while the prompt and settings
// stay), the steered one, the next-token view and the prompt losses.
func (r *steerRunner) compute(ctx context.Context, req *steerRequest) (*SteerResult, error) {
	t0 := time.Now()
	v := req.v
	if v == nil || v.SAE == nil || v.SAE.W == nil || v.SAE.W.Model == nil || v.Tok == nil {
		return nil, errNoModel
	}
	m := v.SAE.W.Model
	st := req.settings
	if err := st.Check(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(st.Prompt) == "" {
		return nil, errors.New("type a prompt: the model continues it with and without the steering")
	}
	ids, err := v.Tok.EncodeContext(ctx, st.Prompt)
	if err != nil {
		return nil, err
	}
	ctxLen := m.Config.NPositions
	n := len(ids) + 1
	if n > ctxLen {
		return nil, fmt.Errorf("the prompt is %d tokens (BOS included), longer than the model's context of %d tokens: shorten it", n, ctxLen)
	}
	if n+st.Tokens > ctxLen {
		return nil, fmt.Errorf("the prompt's %d tokens and %d to generate exceed the model's context of %d tokens: generate at most %d", n, st.Tokens, ctxLen, ctxLen-n)
	}
	prompt := make([]int32, 0, n)
	prompt = append(prompt, tokenizer.BOS)
	for _, id := range ids {
		prompt = append(prompt, int32(id))
	}
	span, err := st.Span(n, st.Tokens)
	if err != nil {
		return nil, err
	}
	ivs, err := steerInterventions(req.features, span)
	if err != nil {
		return nil, err
	}
	uncentred := v.SAE.Weights.Uncentred
	for i, f := range req.features {
		if u := f.View.SAE.Weights.Uncentred; i == 0 {
			uncentred = u
		} else if u != uncentred {
			return nil, errors.New("the list mixes SAEs trained on centred and on uncentred activations, which run the model differently: steer them separately")
		}
		if f.View.SAE.W != v.SAE.W {
			return nil, fmt.Errorf("feature %d of %s belongs to another workspace", f.Feature, f.View.Name())
		}
	}
	samp := intervene.Sampling{Temperature: st.Temperature, TopP: st.TopP, Seed: st.Seed}
	key := fmt.Sprint(prompt, st.Tokens, samp, uncentred)
	r.mu.Lock()
	plain := r.plain
	r.mu.Unlock()
	if plain == nil || plain.key != key {
		res, err := intervene.Generate(ctx, m, prompt, st.Tokens, model.Hooks{Uncentred: uncentred}, samp)
		if err != nil {
			return nil, err
		}
		loss := math.NaN()
		if n > 1 {
			if loss, err = intervene.PromptLoss(ctx, m, prompt, model.Hooks{Uncentred: uncentred}); err != nil {
				return nil, err
			}
		}
		plain = &plainRun{key: key, res: res, loss: loss}
		r.mu.Lock()
		r.plain = plain
		r.mu.Unlock()
	}
	steered, lossSteered := plain.res, plain.loss
	if len(ivs) > 0 {
		hooks, err := intervene.Apply(model.Hooks{Uncentred: uncentred}, ivs)
		if err != nil {
			return nil, err
		}
		if steered, err = intervene.Generate(ctx, m, prompt, st.Tokens, hooks, samp); err != nil {
			return nil, err
		}
		if n > 1 {
			if lossSteered, err = intervene.PromptLoss(ctx, m, prompt, hooks); err != nil {
				return nil, err
			}
		}
	}
	text := func(gen []int32) string {
		ids := make([]int, len(gen))
		for i, id := range gen {
			ids[i] = int(id)
		}
		s, err := v.Tok.Decode(ids)
		if err != nil {
			return fmt.Sprint(ids) // ids from the model are in the vocabulary
		}
		return s
	}
	return &SteerResult{
		Prompt: prompt, Plain: plain.res.Generated, Steered: steered.Generated,
		PlainText: text(plain.res.Generated), SteeredText: text(steered.Generated),
		Next:      intervene.CompareNext(plain.res.LogitsLast, steered.LogitsLast, SteerTop),
		LossPlain: plain.loss, LossSteered: lossSteered, HasLoss: n > 1,
		Steering: len(ivs), Settings: st, Elapsed: time.Since(t0),
	}, nil
}
