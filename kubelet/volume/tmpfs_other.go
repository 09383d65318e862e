//go:build !linux

package volume

import "errors"

var errMountNotPermitted = errors.New("mount not supported on this OS")

func mountTmpfs(string, int64) (bool, error) { return false, errMountNotPermitted }

func unmountTmpfsUnder(string) error { return nil }
