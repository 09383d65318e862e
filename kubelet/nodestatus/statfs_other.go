//go:build !linux

package nodestatus

import "errors"

// statfsSize is only implemented on Linux.
func statfsSize(string) (int64, error) {
	return 0, errors.New("filesystem size is only measured on linux")
}
