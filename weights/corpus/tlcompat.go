package corpus

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/saescope/saescope/weights/tokenizer"
)

// TransformerLens 1.0–2.17 parameters reproduced by Options.TLCompat.
const (
	// tlNumProc is tokenize_and_concatenate's default num_proc: the
	// dataset is cut into this many contiguous shards.
	tlNumProc = 10
	// tlBatchSize is datasets.Dataset.map's default batch_size.
	tlBatchSize = 1000
	// tlNumChunks is the number of character chunks of each batch.
	tlNumChunks = 20
	// tlEOSText joins the documents of a batch.
	tlEOSText = "<|endoftext|>"
)

// tlBatches returns the [start, end) document ranges that
// datasets.Dataset.map(batched=True, num_proc=10) passes to the function:
// contiguous shards as Dataset.shard(contiguous=True) cuts them (num_proc
// lowered to the number of documents), then batches of 1000 in each.
func tlBatches(n int) [][2]int {
	if n == 0 {
		return nil
	}
	shards := min(tlNumProc, n)
	div, mod := n/shards, n%shards
	var out [][2]int
	for s := range shards {
		start := div*s + min(s, mod)
		end := start + div
		if s < mod {
			end++
		}
		for b := start; b < end; b += tlBatchSize {
			out = append(out, [2]int{b, min(b+tlBatchSize, end)})
		}
	}
	return out
}

// tlChunks cuts text into TransformerLens' 20 pieces of
// ceil(len/20) code points (the last ones may be empty).
func tlChunks(text string) []string {
	n := utf8.RuneCountInString(text)
	cl := (n-1)/tlNumChunks + 1
	bounds := make([]int, tlNumChunks+1)
	for k := range bounds {
		bounds[k] = len(text)
	}
	ri := 0
	for bi := range text {
		if ri%cl == 0 && ri/cl <= tlNumChunks {
			bounds[ri/cl] = bi
		}
		ri++
	}
	chunks := make([]string, tlNumChunks)
	for k := range chunks {
		chunks[k] = text[bounds[k]:bounds[k+1]]
	}
	return chunks
}

// isPySpace is Python's str.isspace for one character: Go's unicode.IsSpace
// plus the information separators U+001C–U+001F.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// tlRows reproduces TransformerLens 1.0–2.17's tokenize_and_concatenate
// with model.tokenizer (pad token = EOS): per batch, the texts joined with
// "<|endoftext|>", cut into 20 character chunks, each chunk tokenized,
// every 50256 dropped, rows of seqLen-1 tokens cut (one padded row when the
// batch is shorter), BOS put in front.
func tlRows(ctx context.Context, texts []string, tok *tokenizer.Tokenizer, seqLen int, progress func(done, total int)) (rowSource, error) {
	batches := tlBatches(len(texts))
	var pieces []string
	var owner []int // batch of each piece; -1 for none
	for b, r := range batches {
		full := strings.Join(texts[r[0]:r[1]], tlEOSText)
		if strings.TrimFunc(full, isPySpace) == "" {
			continue // TransformerLens returns no tokens for this batch
		}
		for _, c := range tlChunks(full) {
			pieces = append(pieces, c)
			owner = append(owner, b)
		}
	}
	toks, err := tokenizeAll(ctx, pieces, tok, progress)
	if err != nil {
		return rowSource{}, err
	}
	per := seqLen - 1
	var flat []int32 // the rows, seqLen tokens each
	total := 0
	var stream []int32
	emit := func() {
		total += len(stream)
		n := len(stream) / per
		if len(stream) < per {
			n = 1
			for len(stream) < per {
				stream = append(stream, tokenizer.EOS) // the pad token
			}
		}
		for i := range n {
			flat = append(flat, tokenizer.BOS)
			flat = append(flat, stream[i*per:(i+1)*per]...)
		}
		stream = stream[:0]
	}
	for i, t := range toks {
		for _, id := range t {
			if id != tokenizer.EOS {
				stream = append(stream, id)
			}
		}
		if i == len(toks)-1 || owner[i+1] != owner[i] {
			emit()
		}
	}
	fill := func(i int, dst []int32) { copy(dst, flat[i*seqLen:(i+1)*seqLen]) }
	return rowSource{n: len(flat) / seqLen, total: total, fill: fill}, nil
}
