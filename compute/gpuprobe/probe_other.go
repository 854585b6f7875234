//go:build !cgo || !(linux || freebsd)

package gpuprobe

import "errors"

func probe() Info {
	return Info{Err: errors.New("this build cannot look for CUDA devices (it needs cgo on Linux)")}
}
