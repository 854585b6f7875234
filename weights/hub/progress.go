package hub

import "time"

// Progress reports a download in progress. Reports come from the
// downloading goroutine; a UI must hand them to its own thread.
type Progress struct {
	// File is the path in the repository (or the URL's file name).
	File string
	// Done is the number of bytes on disk, Resumed included; Total the
	// file's size, -1 when unknown.
	Done, Total int64
	// Resumed is how many bytes were already on disk, from an earlier
	// interrupted download, when this one started.
	Resumed int64
	// BytesPerS is the recent transfer speed; 0 until measured.
	BytesPerS float64
	// ETA is the estimated time left; 0 when unknown.
	ETA time.Duration
	// Finished is set on the last report, once the file is verified and
	// in place.
	Finished bool
}

// report hands p to progress, when there is one.
func report(progress func(Progress), p Progress) {
	if progress != nil {
		progress(p)
	}
}

// meter turns byte counts into throttled progress reports with speed and
// time left.
type meter struct {
	t        transfer
	interval time.Duration
	resumed  int64
	done     int64
	last     time.Time
	samples  []sample // recent (time, done) pairs for the speed
}

type sample struct {
	at   time.Time
	done int64
}

func newMeter(t transfer, have int64, interval time.Duration) *meter {
	now := time.Now()
	return &meter{t: t, interval: interval, resumed: have, done: have, samples: []sample{{now, have}}}
}

func (m *meter) restart() {
	m.resumed, m.done = 0, 0
	m.samples = []sample{{time.Now(), 0}}
}

func (m *meter) add(done int64) {
	m.done = done
	now := time.Now()
	if now.Sub(m.last) < m.interval && !(m.t.size >= 0 && done >= m.t.size) {
		return
	}
	m.samples = append(m.samples, sample{now, done})
	// Keep about five seconds of history.
	for len(m.samples) > 2 && now.Sub(m.samples[1].at) > 5*time.Second {
		m.samples = m.samples[1:]
	}
	m.report(false)
}

func (m *meter) report(finished bool) {
	if m.t.progress == nil {
		return
	}
	m.last = time.Now()
	p := Progress{File: m.t.name, Done: m.done, Total: m.t.size, Resumed: m.resumed, Finished: finished}
	if len(m.samples) >= 2 {
		a, b := m.samples[0], m.samples[len(m.samples)-1]
		if dt := b.at.Sub(a.at).Seconds(); dt > 0 {
			p.BytesPerS = float64(b.done-a.done) / dt
		}
	}
	if p.BytesPerS > 0 && p.Total >= 0 {
		p.ETA = time.Duration(float64(p.Total-p.Done) / p.BytesPerS * float64(time.Second))
	}
	m.t.progress(p)
}
