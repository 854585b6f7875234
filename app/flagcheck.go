package main

import (
	"flag"
	"fmt"
)

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// refuseFlags returns an error for the first of names given on the command
// line (set), saying why it does nothing in this use of the command: a
// flag a command parses is used or refused, never silently ignored
// (TestEveryFlagIsRead checks every command).
func refuseFlags(set map[string]bool, why string, names ...string) error {
	for _, n := range names {
		if set[n] {
			return fmt.Errorf("--%s does nothing here: %s", n, why)
		}
	}
	return nil
}
