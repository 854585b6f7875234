// Package htmlexport writes a feature's contexts as one self-contained
// HTML file: every token a span coloured by its activation with the same
// scale as the window's chips, the activating token outlined, the values
// in hover titles, and a header naming the feature, the SAE and the
// analysis. The file has no scripts and loads nothing.
//
// It imports no GUI toolkit; the colours come from the caller.
package htmlexport

import (
	"bufio"
	"fmt"
	"html"
	"image/color"
	"io"
	"strings"
)

// Token is one token of a context.
type Token struct {
	Text  string  // display text (space ·, newline ↩, tab →)
	ID    int     // vocabulary id
	Value float32 // the feature's activation on it
}

// Context is one context: a window of tokens around an activation.
type Context struct {
	Value  float32 // the activation at the marked token
	Where  string  // "row 3, position 17"
	Tokens []Token
	Marked int // the activating token's index, -1 for none
}

// Field is one line of the header table.
type Field struct{ Name, Value string }

// Report is what the file shows.
type Report struct {
	Title    string  // page title and heading, e.g. "Feature 17 · blocks.1.hook_resid_pre (256)"
	Label    string  // the feature's label, if any
	Notes    string  // its notes, if any
	Fields   []Field // the feature's numbers, the SAE, the model, the corpus, the store's summary
	Scale    float32 // the activation that saturates the colour
	Contexts []Context
}

// Colours maps an activation to a background and a text colour.
type Colours func(v, scale float32) (bg, fg color.NRGBA)

// MarkColour outlines the activating token.
var MarkColour = color.NRGBA{0x1f, 0x6f, 0xd0, 0xff}

const style = `body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#111;background:#fff}
h1{font-size:1.4em;margin-bottom:.2em}
.label{font-size:1.1em;margin:.2em 0}
.notes{white-space:pre-wrap;color:#444}
table.fields{border-collapse:collapse;margin:1em 0}
table.fields th{text-align:left;font-weight:normal;color:#555;padding:.1em 1.5em .1em 0;vertical-align:top}
table.fields td{padding:.1em 0}
.legend{display:flex;align-items:center;gap:.4em;margin:1em 0;font-size:.9em}
.legend .cell{display:inline-block;width:.8em;height:1em}
ol.contexts{padding-left:0;list-style:none}
ol.contexts li{margin:.6em 0;display:flex;gap:1em;align-items:flex-start}
.value{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;min-width:4.5em;text-align:right}
.where{display:block;color:#777;font-size:.75em}
.tokens{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;line-height:1.9;font-size:.9em}
.tok{padding:1px 3px;margin-right:2px;border-radius:3px;white-space:pre}
.tok.act{outline:2px solid %s;outline-offset:0}
`

// Write writes the report as HTML.
func Write(w io.Writer, r Report, colours Colours) error {
	bw := bufio.NewWriter(w)
	e := html.EscapeString
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	p("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
	p("<meta name=\"generator\" content=\"SAE Scope\"/>\n<title>%s</title>\n", e(r.Title))
	p("<style>\n"+style+"</style>\n</head>\n<body>\n", hex(MarkColour))
	p("<h1>%s</h1>\n", e(r.Title))
	if r.Label != "" {
		p("<p class=\"label\">%s</p>\n", e(r.Label))
	}
	if r.Notes != "" {
		p("<p class=\"notes\">%s</p>\n", e(r.Notes))
	}
	if len(r.Fields) > 0 {
		p("<table class=\"fields\">\n")
		for _, f := range r.Fields {
			p("<tr><th>%s</th><td>%s</td></tr>\n", e(f.Name), e(f.Value))
		}
		p("</table>\n")
	}
	if r.Scale > 0 {
		p("<div class=\"legend\"><span>colour scale: 0</span>")
		const steps = 16
		for i := 0; i < steps; i++ {
			bg, _ := colours(r.Scale*float32(i)/(steps-1), r.Scale)
			p("<span class=\"cell\" style=\"background:%s\"></span>", hex(bg))
		}
		p("<span>%s</span><span>(outlined: the activating token; hover a token for its id and activation)</span></div>\n", e(num(r.Scale)))
	}
	if len(r.Contexts) == 0 {
		p("<p>No contexts: the feature never fires on the corpus.</p>\n")
	}
	p("<ol class=\"contexts\">\n")
	for _, c := range r.Contexts {
		p("<li><span class=\"value\">%s", e(num(c.Value)))
		if c.Where != "" {
			p("<span class=\"where\">%s</span>", e(c.Where))
		}
		p("</span><div class=\"tokens\">")
		for i, t := range c.Tokens {
			bg, fg := colours(t.Value, r.Scale)
			class := "tok"
			if i == c.Marked {
				class += " act"
			}
			p("<span class=\"%s\" style=\"background:%s;color:%s\" title=\"%s\" data-id=\"%d\" data-act=\"%s\">%s</span>",
				class, hex(bg), hex(fg), e(fmt.Sprintf("%q · id %d · activation %s", t.Text, t.ID, num(t.Value))),
				t.ID, num(t.Value), e(t.Text))
		}
		p("</div></li>\n")
	}
	p("</ol>\n</body>\n</html>\n")
	return bw.Flush()
}

// hex writes a colour as #rrggbb.
func hex(c color.NRGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

func num(v float32) string {
	s := fmt.Sprintf("%.3f", v)
	if strings.HasPrefix(s, "-0.000") {
		s = s[1:]
	}
	return s
}
