package ui

import (
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	for in, want := range map[string][2]int{
		"2000-2050": {2000, 2050}, "2000–2050": {2000, 2050}, "2000..2050": {2000, 2050},
		"2000 2050": {2000, 2050}, "ranks 2000–2050": {2000, 2050}, "2000": {2000, 2050}, "#1,000": {1000, 1050},
	} {
		lo, hi, err := parseRange(in)
		if err != nil || lo != want[0] || hi != want[1] {
			t.Errorf("%q: %d, %d, %v; want %v", in, lo, hi, err, want)
		}
	}
	for in, msg := range map[string]string{
		"-5": "not negative", "5-": "not negative", "--5": "not negative", "50-10": "empty",
		"9223372036854775807": "out of range", "99999999999999999999": "too large", "abc": "not a whole number", "": "",
	} {
		_, _, err := parseRange(in)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want an error saying %q", in, err, msg)
		}
	}
}
