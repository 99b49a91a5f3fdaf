package inventory

import "errors"

var (
	// ErrUnsupportedLayer is returned for a blob that is not a layer this
	// package can read: a media type that is not a tar layer, or content
	// that is not a tar archive (possibly compressed with gzip or zstd).
	ErrUnsupportedLayer = errors.New("unsupported layer")
	// ErrCorruptLayer is returned for a layer whose compressed stream or tar
	// archive is damaged or truncated.
	ErrCorruptLayer = errors.New("corrupt layer")
	// ErrLayerTooLarge is returned when a layer exceeds
	// Options.MaxLayerSize uncompressed bytes or Options.MaxRatio, which is
	// how decompression bombs end.
	ErrLayerTooLarge = errors.New("layer too large")
)
