// Package corpus reads the documents of a text corpus and turns them into
// the fixed-length token rows that SAE Scope scans, the way TransformerLens'
// utils.tokenize_and_concatenate(dataset, tokenizer, max_length=128,
// add_bos_token=True) prepares a dataset.
//
// # Inputs
//
// ReadDocuments (or ReadDocumentsFS for an fs.FS such as the corpus embedded
// in package assets) accepts a file or a folder:
//
//   - .txt: the whole file is one document, or with Options.SplitBlankLines
//     every run of lines between blank lines is one. Line endings "\r\n" and
//     "\r" are read as "\n", as Python reads a text file.
//   - .jsonl: one JSON object a line, the document in its string field
//     Options.TextField ("text" by default). Blank lines are skipped; any
//     other line that is not such an object is an error naming file and line.
//   - .parquet: the string column Options.TextField ("text"), as in the
//     Hugging Face parquet export of stas/openwebtext-10k, the default corpus.
//     Every compression codec of the format is read (snappy, zstd, gzip,
//     brotli, lz4). A null value counts as an empty document.
//   - a folder: every .txt, .jsonl and .parquet file below it, in sorted path
//     order; other files are ignored.
//
// A corpus file must be a regular file, after symbolic links are followed:
// a device (a link to /dev/zero, say, whose size reads 0 and which never
// ends), a FIFO (which blocks its reader until something writes) or a folder
// named like a corpus file is refused before it is read, naming it. Every
// read is bounded by the bytes actually read, not by the size the file
// system reports.
//
// Bytes that are not valid UTF-8 are replaced by U+FFFD, one replacement for
// each maximal ill-formed subsequence as Python's errors="replace" does, and
// counted in Stats.InvalidUTF8Bytes. Empty documents (the empty string, not
// whitespace) are skipped and counted in Stats.EmptyDocuments.
//
// # Rows
//
// Rows tokenizes each document on its own, joins the token lists with EOS
// (50256) between documents, cuts the stream into pieces of SeqLen-1 tokens
// (127 for the default SeqLen 128), puts BOS (50256) in front of each piece,
// and drops the remainder. Since "<|endoftext|>" is a special token,
// tokenizing each document on its own gives exactly the tokens of the joined
// text. The rows are then shuffled with a Fisher–Yates shuffle driven by a
// PCG generator of math/rand/v2 seeded with Options.Seed, and the first
// Options.Rows are kept. The shuffle draws bounded numbers from the 64-bit
// PCG output itself (Lemire's multiply-and-reject), so a seed gives the same
// rows on every platform, 32-bit ones included. Tokenization runs in
// parallel over documents on every CPU and keeps the document order.
//
// # What TransformerLens really does (Options.TLCompat)
//
// TransformerLens' tokenize_and_concatenate has changed over time. Versions
// 1.0 (January 2023) to 2.17 (January 2026), in transformer_lens/utils.py,
// the versions notebooks of that period ran, differ from the rule above in
// three ways (line numbers of v2.16.0):
//
//   - Chunks. Each batch of documents is joined into one string with
//     "<|endoftext|>" between them, the string is cut into 20 pieces of
//     ceil(len/20) characters (Python code points), and each piece is
//     tokenized on its own: `num_chunks = 20`, `chunk_length =
//     (len(full_text) - 1) // num_chunks + 1`, `chunks = [full_text[i *
//     chunk_length : (i + 1) * chunk_length] for i in range(num_chunks)]`
//     (utils.py lines 360–364). A word, or an "<|endoftext|>", that
//     straddles a piece border is tokenized as two pieces, up to 19 times
//     per batch.
//   - Pad filter. The pieces are tokenized with padding=True, and the
//     padding is removed with `tokens = tokens[tokens !=
//     tokenizer.pad_token_id]` (line 366). The tokenizer passed is normally
//     model.tokenizer, and HookedTransformer.set_tokenizer sets
//     `self.tokenizer.pad_token = self.tokenizer.eos_token` when the
//     tokenizer has none (HookedTransformer.py lines 747–748; v1.0.0 lines
//     83–84), which is the case for GPT-2. The pad id is then 50256, so the
//     filter removes every EOS separator (and any "<|endoftext|>" inside a
//     document): documents end up glued together with nothing between them.
//     (Only with a bare Hugging Face tokenizer, which has no pad token, does
//     TransformerLens add a "<PAD>" token and keep the separators.)
//   - Batches. datasets.Dataset.map(batched=True) hands the function 1000
//     documents at a time, and with num_proc=10 (the default) the dataset is
//     first cut into 10 contiguous shards (fewer when there are fewer
//     documents). Rows never span two batches: each batch's remainder is
//     dropped. From v2.8.0 a batch with fewer than 127 tokens gives one row
//     padded with the pad token (before, none).
//
// Options.TLCompat reproduces versions 2.8 to 2.17 exactly, for a tokenizer
// whose pad token is EOS (model.tokenizer) and the default num_proc=10 and
// batch_size=1000: same batches, same character chunks, every 50256 removed
// before the rows are cut. On openwebtext-10k (10 batches of 1000
// documents, each far longer than a row) versions 1.0 to 2.7 give the same
// rows. With TLCompat, ReadDocuments keeps empty documents, since
// TransformerLens joins them too and they shift the chunk borders. The
// too-small check of this package still applies to the whole corpus.
//
// Later versions differ again. v2.18.0 and v3.0.0 move each chunk border
// forward to the next whitespace (at most a tenth of a chunk further) and
// still filter the pad token. From v3.1.0 (April 2026,
// transformer_lens/utilities/tokenize_utils.py) each document is tokenized
// on its own and a token-level EOS is put between documents with no pad
// filter: that is the rule of this package, except that TransformerLens
// still cuts rows inside each batch of 1000 documents.
//
// The shuffle of this package is its own: it does not reproduce
// datasets.Dataset.shuffle or torch's generator, only the row contents.
package corpus
