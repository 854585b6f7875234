package ui

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/saescope/saescope/compute/store"
)

// fnum formats a statistic with 4 significant digits ("–" for NaN).
func fnum(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	if v != 0 && math.Abs(v) < 1e-3 {
		return strconv.FormatFloat(v, 'e', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

// fpercent formats a frequency as a percentage.
func fpercent(v float64) string {
	switch {
	case v == 0:
		return "0%"
	case v < 0.0001:
		return "<0.01%"
	}
	return strconv.FormatFloat(100*v, 'f', 2, 64) + "%"
}

// fduration formats an ETA.
func fduration(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%d s", int(d.Seconds()))
	}
	if d < time.Hour {
		return fmt.Sprintf("%d min %02d s", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%d h %02d min", int(d.Hours()), int(d.Minutes())%60)
}

// parseInt reads an integer typed by the user (spaces, commas and a
// leading '#' allowed, a typographic minus too).
func parseInt(s string) (int, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "#")
	s = strings.ReplaceAll(s, ",", "")
	s = strings.ReplaceAll(s, " ", "")
	s = strings.ReplaceAll(s, "−", "-")
	if s == "" {
		return 0, fmt.Errorf("empty number")
	}
	n, err := strconv.Atoi(s)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%s is too large", s)
	}
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return n, nil
}

// parseRange reads a rank range: "2000-2050", "2000–2050", "2000..2050",
// "2000 2050" or "ranks 2000–2050" give [2000, 2050); "2000" alone gives
// the 50 ranks from 2000.
func parseRange(s string) (lo, hi int, err error) {
	s = strings.TrimSpace(strings.ToLower(s))
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(s, "ranks"), "rank"))
	// A dash is a separator between two ranks, not a sign: "-5" and "5-"
	// are not ranges (they read as "5" before).
	if t := strings.Trim(s, "-–—−"); t != s && !strings.ContainsAny(t, "-–— .:") {
		return 0, 0, fmt.Errorf("%q: ranks are not negative; give one rank or two, e.g. 2000-2050", s)
	}
	for _, sep := range []string{"..", "–", "—", "-", ":", " to "} {
		s = strings.ReplaceAll(s, sep, " ")
	}
	f := strings.Fields(s)
	switch len(f) {
	case 1:
		if lo, err = parseInt(f[0]); err != nil {
			return 0, 0, err
		}
		if lo < 0 || lo > math.MaxInt-50 {
			return 0, 0, fmt.Errorf("rank %d is out of range", lo)
		}
		return lo, lo + 50, nil
	case 2:
		if lo, err = parseInt(f[0]); err != nil {
			return 0, 0, err
		}
		if hi, err = parseInt(f[1]); err != nil {
			return 0, 0, err
		}
		if hi <= lo {
			return 0, 0, fmt.Errorf("rank range %d–%d is empty", lo, hi)
		}
		return lo, hi, nil
	}
	return 0, 0, fmt.Errorf("type a rank range such as 2000-2050")
}

// parsePositiveFloat reads an optional positive number ("" gives 0, auto).
func parsePositiveFloat(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "auto") {
		return 0, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("the scale maximum must be a positive number, not %q", s)
	}
	return v, nil
}

// minAblationEffect is the smallest rise of the loss under zero ablation
// (nats) for which the reconstruction score, (zero - recons) / (zero -
// clean), is shown: below it the ratio divides by almost nothing (or by a
// negative number). In GPT-2 small it is several nats for the residual
// stream; in a model with random weights it is noise (the demo's
// trained model gives its ReLU SAE a score of 0.935).
const minAblationEffect = 0.05

// fmtReconScore formats an analysis' reconstruction score, or says why
// there is none.
func fmtReconScore(s store.Summary) string {
	text, why := reconScore(s)
	if why != "" {
		return text + " (" + why + ")"
	}
	return text
}

// shortReconScore is fmtReconScore without the reason, for one-line
// summaries.
func shortReconScore(s store.Summary) string {
	text, _ := reconScore(s)
	return text
}

// reconScore returns the score as text ("not measured" and "undefined"
// included) and, when it is undefined, why.
func reconScore(s store.Summary) (text, why string) {
	switch d := s.LossZero - s.LossClean; {
	case !reconMeasured(s):
		return "not measured", ""
	case d < 0:
		return "undefined", fmt.Sprintf("zero ablation lowers the loss, by %.4f", -d)
	case d < minAblationEffect:
		return "undefined", fmt.Sprintf("zero ablation raises the loss by only %.4f", d)
	}
	return fmt.Sprintf("%.3f", s.ReconScore), ""
}

// reconMeasured says whether the analysis measured the reconstruction
// losses (analyze --recon-rows 0 skips them).
func reconMeasured(s store.Summary) bool {
	return s.LossClean != 0 || s.LossRecons != 0 || s.LossZero != 0
}

// quoteTok puts a token's inline text (tokenizer.Inline: no raw control
// characters left) in double quotes, for running text.
func quoteTok(s string) string { return `"` + s + `"` }
