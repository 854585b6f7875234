package assets

import _ "embed"

//go:embed icon/saescope.png
var icon []byte

// Icon returns the application icon as PNG bytes (512×512; the SVG source
// is assets/icon/saescope.svg).
func Icon() []byte { return icon }
