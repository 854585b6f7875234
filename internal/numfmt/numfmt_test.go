package numfmt

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{
		0: "0", 7: "7", 999: "999", 1000: "1,000", 24576: "24,576", 100000: "100,000",
		-1: "-1", -999: "-999", -1000: "-1,000", -1234567: "-1,234,567",
		math.MinInt64: "-9,223,372,036,854,775,808",
	} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
		// removing the commas gives the number back
		if back, err := strconv.Atoi(strings.ReplaceAll(want, ",", "")); err != nil || back != n {
			t.Errorf("%q does not read back as %d", want, n)
		}
	}
}
