package htmlexport

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/color"
	"io"
	"strings"
	"testing"
)

// grey is a colour scale for the test: darker with the activation.
func grey(v, scale float32) (bg, fg color.NRGBA) {
	g := uint8(255)
	if scale > 0 {
		g = uint8(255 - 200*min(1, max(0, v/scale)))
	}
	bg = color.NRGBA{g, g, 255, 255}
	fg = color.NRGBA{0, 0, 0, 255}
	if g < 128 {
		fg = color.NRGBA{255, 255, 255, 255}
	}
	return bg, fg
}

type span struct {
	class, style, title, text string
}

// parse reads the file as XML (it is well-formed) and returns the token
// spans of each context, and the h1 text.
func parse(t *testing.T, data []byte) (ctxs [][]span, h1 string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var cur *span
	var inH1 bool
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			attr := map[string]string{}
			for _, a := range x.Attr {
				attr[a.Name.Local] = a.Value
			}
			switch {
			case x.Name.Local == "li":
				ctxs = append(ctxs, nil)
			case x.Name.Local == "h1":
				inH1 = true
			case x.Name.Local == "span" && strings.HasPrefix(attr["class"], "tok"):
				cur = &span{class: attr["class"], style: attr["style"], title: attr["title"]}
			}
		case xml.CharData:
			if cur != nil {
				cur.text += string(x)
			}
			if inH1 {
				h1 += string(x)
			}
		case xml.EndElement:
			if x.Name.Local == "h1" {
				inH1 = false
			}
			if x.Name.Local == "span" && cur != nil {
				ctxs[len(ctxs)-1] = append(ctxs[len(ctxs)-1], *cur)
				cur = nil
			}
		}
	}
	return ctxs, h1
}

func TestWrite(t *testing.T) {
	r := Report{
		Title:  "Feature 17 · blocks.1.hook_resid_pre (256)",
		Label:  `<b>"quotes" & tags</b>`,
		Fields: []Field{{"SAE", "x.pt"}, {"L0", "119.5"}},
		Scale:  2,
		Contexts: []Context{
			{Value: 2, Where: "row 3, position 2", Marked: 2, Tokens: []Token{
				{"<|endoftext|>", 50256, 0}, {"·Tom", 4186, 0.5}, {"·&", 1222, 2}, {`"`, 1, 1.5}}},
			{Value: 1.25, Marked: 0, Tokens: []Token{{"·a", 257, 1.25}, {"↩", 198, 0}}},
		},
	}
	var buf bytes.Buffer
	if err := Write(&buf, r, grey); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if !bytes.HasPrefix(data, []byte("<!DOCTYPE html>")) {
		t.Error("no doctype")
	}
	for _, bad := range []string{"<script", "http://", "https://", "<link", "<img"} {
		if bytes.Contains(data, []byte(bad)) {
			t.Errorf("not self-contained: %s", bad)
		}
	}
	ctxs, h1 := parse(t, data)
	if h1 != r.Title {
		t.Errorf("h1 %q", h1)
	}
	if !strings.Contains(buf.String(), "&lt;b&gt;&#34;quotes&#34; &amp; tags&lt;/b&gt;") {
		t.Error("label not escaped")
	}
	if len(ctxs) != len(r.Contexts) {
		t.Fatalf("%d contexts, want %d", len(ctxs), len(r.Contexts))
	}
	for i, c := range r.Contexts {
		if len(ctxs[i]) != len(c.Tokens) {
			t.Fatalf("context %d: %d spans, want one per token (%d)", i, len(ctxs[i]), len(c.Tokens))
		}
		for j, tok := range c.Tokens {
			s := ctxs[i][j]
			bg, fg := grey(tok.Value, r.Scale)
			want := fmt.Sprintf("background:#%02x%02x%02x;color:#%02x%02x%02x", bg.R, bg.G, bg.B, fg.R, fg.G, fg.B)
			if s.style != want {
				t.Errorf("context %d token %d: style %q, want %q", i, j, s.style, want)
			}
			if s.text != tok.Text {
				t.Errorf("context %d token %d: text %q, want %q", i, j, s.text, tok.Text)
			}
			if !strings.Contains(s.title, fmt.Sprintf("id %d", tok.ID)) || !strings.Contains(s.title, fmt.Sprintf("activation %.3f", tok.Value)) {
				t.Errorf("title %q", s.title)
			}
			if (j == c.Marked) != strings.Contains(s.class, "act") {
				t.Errorf("context %d token %d: class %q, marked %d", i, j, s.class, c.Marked)
			}
		}
	}
}

func TestWriteEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, Report{Title: "Feature 5"}, grey); err != nil {
		t.Fatal(err)
	}
	ctxs, _ := parse(t, buf.Bytes())
	if len(ctxs) != 0 || !strings.Contains(buf.String(), "never fires") {
		t.Errorf("empty report: %d contexts", len(ctxs))
	}
}
