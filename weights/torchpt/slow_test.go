package torchpt

import (
	"bytes"
	"os"
	"testing"
	"time"
)

func TestSlowInput(t *testing.T) {
	data, _ := os.ReadFile("/tmp/fz/slow-26641-110")
	start := time.Now()
	m, err := LoadReader(bytes.NewReader(data), int64(len(data)), "x")
	t.Logf("%v %d %v", time.Since(start), len(m), err)
}
