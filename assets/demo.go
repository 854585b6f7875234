package assets

import (
	"embed"
	"io/fs"
)

//go:embed demo
var demo embed.FS

// DemoFS returns the demo workspace: a tiny GPT-2 trained by SAE Scope on
// the shipped corpus and two SAEs trained on it (see demo/README.md), under
// the folder "demo".
func DemoFS() fs.FS { return demo }
