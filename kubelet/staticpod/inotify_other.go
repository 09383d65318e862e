//go:build !linux

package staticpod

import "errors"

// dirWatch does nothing off Linux: the folder is only rescanned.
type dirWatch struct{}

func watchDir(string) (*dirWatch, error) { return nil, errors.New("inotify is Linux only") }

func (*dirWatch) run(chan<- struct{}) {}

func (*dirWatch) close() {}
