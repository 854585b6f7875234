package assets

import (
	"embed"
	"io/fs"
)

//go:embed demo
var demo embed.FS

// DemoFS returns the demo workspace: a tiny random GPT-2, a random SAE and
// one trained on it (see demo/README.md), under the folder "demo".
func DemoFS() fs.FS { return demo }
