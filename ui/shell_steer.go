package ui

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/saescope/saescope/compute/intervene"
)

// SteerFeatures puts the features listed in list in the Steer pane's list:
// entries separated by ";", each "FEATURE [MODE [COEFF]]", the feature of
// the SAE tab shown or "TAB:FEATURE" (tabs count from 0), the mode add
// (the default), clamp or ablate, the coefficient a number (default: the
// feature's maximum activation). "66 add 8; 1:17 ablate".
func (s *Shell) SteerFeatures(list string) error {
	e := s.Explorer()
	if e == nil {
		return fmt.Errorf("open a model and add an SAE before steering features")
	}
	entries := strings.Split(list, ";")
	for _, entry := range entries {
		fields := strings.Fields(entry)
		if len(fields) == 0 {
			continue
		}
		if len(fields) > 3 {
			return fmt.Errorf("steer %q: want FEATURE [add|clamp|ablate [COEFF]]", entry)
		}
		v := e.View
		id := fields[0]
		if tab, f, ok := strings.Cut(id, ":"); ok {
			i, err := parseInt(tab)
			if err != nil || i < 0 || i >= len(s.session.Explorers) {
				return fmt.Errorf("steer %q: there is no SAE tab %q (tabs count from 0)", entry, tab)
			}
			v, id = s.session.Explorers[i].View, f
		}
		f, err := parseInt(id)
		if err != nil {
			return fmt.Errorf("steer %q: %w", entry, err)
		}
		set := v.Bench().Steer()
		if err := set.Add(v, f); err != nil {
			return err
		}
		i := len(set.Features()) - 1
		if len(fields) > 1 {
			m := intervene.Mode(strings.ToLower(fields[1]))
			if m != intervene.Add && m != intervene.Clamp && m != intervene.Ablate {
				set.Remove(i)
				return fmt.Errorf("steer %q: unknown mode %q (add, clamp, ablate)", entry, fields[1])
			}
			set.SetMode(i, m)
		}
		if len(fields) > 2 {
			c, err := strconv.ParseFloat(fields[2], 64)
			if err != nil || math.IsNaN(c) || math.IsInf(c, 0) {
				set.Remove(i)
				return fmt.Errorf("steer %q: the coefficient %q is not a finite number", entry, fields[2])
			}
			set.SetCoeff(i, c)
		}
	}
	return nil
}

// SetSteerPrompt sets the Steer pane's prompt.
func (s *Shell) SetSteerPrompt(text string) {
	e := s.Explorer()
	if e == nil {
		return
	}
	set := e.View.Bench().Steer()
	st := set.Settings()
	st.Prompt = text
	set.SetSettings(st)
}
