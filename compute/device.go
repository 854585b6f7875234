package compute

// DeviceInfo is implemented by backends that run on a device they can
// name (the CUDA backend: the GPU's name), for status lines and reports.
type DeviceInfo interface {
	// Info names the device, or returns "" when it cannot.
	Info() string
}

// Describe names a backend for a status line: "cpu/openblas", or
// "cuda on NVIDIA H100 …" for a backend that names its device.
func Describe(be Backend) string {
	if d, ok := be.(DeviceInfo); ok && d.Info() != "" {
		return be.Name() + " on " + d.Info()
	}
	return be.Name()
}
