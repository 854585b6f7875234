package ui

import (
	"strings"
	"testing"

	"github.com/saescope/saescope/compute/store"
)

func TestReconScoreText(t *testing.T) {
	for _, c := range []struct {
		sum  store.Summary
		want string
	}{
		{store.Summary{LossClean: 3.3, LossRecons: 3.6, LossZero: 10.1, ReconScore: 0.9559}, "0.956"},
		{store.Summary{}, "not measured"},
		// The random demo model: zero ablation barely matters, the ratio is noise.
		{store.Summary{LossClean: 11.0404, LossRecons: 10.9979, LossZero: 11.0429, ReconScore: 17.72}, "undefined (zero ablation raises the loss by only 0.0025)"},
		{store.Summary{LossClean: 11.0404, LossRecons: 11.0347, LossZero: 11.0276, ReconScore: 0.553}, "undefined (zero ablation lowers the loss, by 0.0128)"},
	} {
		if got := fmtReconScore(c.sum); got != c.want {
			t.Errorf("%+v: %q, want %q", c.sum, got, c.want)
		}
		if short := shortReconScore(c.sum); !strings.HasPrefix(c.want, short) {
			t.Errorf("%+v: short form %q, long %q", c.sum, short, c.want)
		}
	}
}
