package ui

import (
	"log"
	"os"
)

// timingOn makes the panes log how long their updates take
// (SAESCOPE_TIMING=1), for the responsiveness measurements.
var timingOn = os.Getenv("SAESCOPE_TIMING") != ""

func logTiming(format string, a ...any) {
	if timingOn {
		log.Printf("timing: "+format, a...)
	}
}
