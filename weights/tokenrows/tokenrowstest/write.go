// Package tokenrowstest writes token-row files byte by byte, as NumPy's
// np.save and safetensors' save_file lay them out, for tests of readers of
// such files. It shares no code with package tokenrows.
package tokenrowstest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// NPY returns the bytes np.save writes for rows as an array of dtype descr
// ("<i8", "<i4", ">i8", "<u2", "<f4", …; the values are converted to its
// type): format 1.0, the header padded with spaces to a multiple of 64
// bytes and ended by a newline. fortran writes the elements in column-major
// order (np.asfortranarray).
func NPY(rows [][]int32, descr string, fortran bool) []byte {
	r, s := len(rows), 0
	if r > 0 {
		s = len(rows[0])
	}
	ford := "False"
	if fortran {
		ford = "True"
	}
	hdr := fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': (%d, %d), }", descr, ford, r, s)
	pad := 64 - (10+len(hdr)+1)%64
	if pad == 64 {
		pad = 0
	}
	hdr += strings.Repeat(" ", pad) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(hdr)))
	b.WriteString(hdr)
	var order binary.ByteOrder = binary.LittleEndian
	if descr[0] == '>' {
		order = binary.BigEndian
	}
	put := func(v int32) {
		switch descr[1:] {
		case "i8", "u8":
			binary.Write(&b, order, int64(v))
		case "i4", "u4":
			binary.Write(&b, order, v)
		case "i2", "u2":
			binary.Write(&b, order, int16(v))
		case "f4":
			binary.Write(&b, order, float32(v))
		case "f8":
			binary.Write(&b, order, float64(v))
		default:
			panic("tokenrowstest: dtype " + descr)
		}
	}
	if fortran {
		for c := range s {
			for i := range r {
				put(rows[i][c])
			}
		}
	} else {
		for _, row := range rows {
			for _, v := range row {
				put(v)
			}
		}
	}
	return b.Bytes()
}

// Safetensors returns the bytes of a safetensors file holding rows as one
// tensor called name of dtype ("I64", "I32", "F32"), as
// safetensors.torch.save_file({name: t}, …) writes it.
func Safetensors(rows [][]int32, name, dtype string) []byte {
	r, s := len(rows), 0
	if r > 0 {
		s = len(rows[0])
	}
	var data bytes.Buffer
	for _, row := range rows {
		for _, v := range row {
			switch dtype {
			case "I64":
				binary.Write(&data, binary.LittleEndian, int64(v))
			case "I32":
				binary.Write(&data, binary.LittleEndian, v)
			case "F32":
				binary.Write(&data, binary.LittleEndian, float32(v))
			default:
				panic("tokenrowstest: dtype " + dtype)
			}
		}
	}
	hdr, err := json.Marshal(map[string]any{name: map[string]any{
		"dtype": dtype, "shape": []int{r, s}, "data_offsets": []int{0, data.Len()}}})
	if err != nil {
		panic(err)
	}
	for len(hdr)%8 != 0 {
		hdr = append(hdr, ' ')
	}
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(hdr)))
	b.Write(hdr)
	b.Write(data.Bytes())
	return b.Bytes()
}

// JSON returns rows as a JSON list of lists.
func JSON(rows [][]int32) []byte {
	b, err := json.Marshal(rows)
	if err != nil {
		panic(err)
	}
	return b
}

// Write writes data to path, failing the test on error.
func Write(t interface {
	Helper()
	Fatal(...any)
}, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
